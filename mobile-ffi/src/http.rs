//! The HTTP transport: one blocking reqwest client over rustls (ring provider, Mozilla's roots
//! plus an optional private CA), JSON helpers, and retries with backoff for transient failures.
//!
//! Blocking is deliberate: the app calls the library from a background thread (Kotlin
//! `Dispatchers.IO`, a Swift `Task.detached`, a Python thread), and a blocking client keeps the
//! library free of an async runtime in its API.

use crate::error::{ApiError, Result};
use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// Attempts per request for transient failures (no connection, time-out, 502/503/504).
const ATTEMPTS: u32 = 3;
/// First pause between attempts; doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(400);

/// A failed request, before it becomes an [`ApiError`]: callers that react to specific server
/// codes (`offset_mismatch`, `hash_mismatch` ...) look at it first.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// The request did not get an answer (no network, refused, cut, timed out).
    Transport(String),
    /// The server answered with an error.
    Status {
        status: u16,
        code: String,
        message: String,
    },
}

impl Failure {
    pub fn code(&self) -> &str {
        match self {
            Failure::Status { code, .. } => code,
            Failure::Transport(_) => "",
        }
    }

    fn transient(&self) -> bool {
        match self {
            Failure::Transport(_) => true,
            Failure::Status { status, .. } => matches!(status, 502..=504),
        }
    }
}

impl From<Failure> for ApiError {
    /// How server answers map onto the app's errors (see `docs/api.md` for the codes).
    fn from(f: Failure) -> Self {
        match f {
            Failure::Transport(m) => ApiError::network(format!("no connection to the server: {m}")),
            Failure::Status {
                status,
                code,
                message,
            } => match (status, code.as_str()) {
                (401, "device_revoked") => ApiError::Revoked,
                (401, _) => ApiError::Unauthorized { reason: message },
                (429, _) => ApiError::Unauthorized { reason: message },
                (403, _) => ApiError::NotAllowed { reason: message },
                (404, _) => ApiError::not_found(message),
                (409, "transition_not_allowed") => {
                    ApiError::TransitionNotAllowed { reason: message }
                }
                (409, _) => ApiError::state(message),
                (400 | 413 | 415 | 422, _) => ApiError::input(message),
                _ => ApiError::server(format!("server error {status} {code}: {message}")),
            },
        }
    }
}

/// The HTTP client of one [`FieldClient`](crate::FieldClient).
#[derive(Debug, Clone)]
pub struct Http {
    client: Client,
    base: String,
}

impl Http {
    pub fn new(base: &str, timeout: Duration, extra_ca_pem: Option<&str>) -> Result<Http> {
        let tls = tls_config(extra_ca_pem)?;
        let client = Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("lastmile-mobile/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Http {
            client,
            base: base.to_owned(),
        })
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.base));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Send with retries: `build` makes a fresh request per attempt.
    fn send(&self, build: impl Fn() -> RequestBuilder) -> std::result::Result<Response, Failure> {
        let mut pause = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let outcome = match build().send() {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => Err(failure_of(resp)),
                Err(e) => Err(Failure::Transport(describe(e))),
            };
            match outcome {
                Err(f) if f.transient() && attempt < ATTEMPTS => {
                    tracing::debug!(attempt, error = ?f, "retrying a request");
                    std::thread::sleep(pause);
                    pause *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// A JSON request with a JSON answer.
    pub fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> std::result::Result<T, Failure> {
        let resp = self.send(|| {
            let r = self.request(method.clone(), path, token);
            match body {
                Some(b) => r
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.to_string()),
                None => r,
            }
        })?;
        let bytes = resp.bytes().map_err(|e| Failure::Transport(describe(e)))?;
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|e| Failure::Status {
            status: 200,
            code: "unexpected_answer".into(),
            message: format!("the server's answer could not be read: {e}"),
        })
    }

    /// A request with a binary body and a JSON or binary answer.
    pub fn bytes(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> std::result::Result<(Vec<u8>, Option<String>), Failure> {
        let resp = self.send(|| {
            let mut r = self.request(method.clone(), path, Some(token));
            if let Some(b) = body {
                r = r
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(b.to_vec());
            }
            if let Some(t) = timeout {
                r = r.timeout(t);
            }
            r
        })?;
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().map_err(|e| Failure::Transport(describe(e)))?;
        Ok((bytes.to_vec(), content_type))
    }
}

fn failure_of(resp: Response) -> Failure {
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp
        .bytes()
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    Failure::Status {
        status,
        code: body["code"].as_str().unwrap_or("").to_owned(),
        message: body["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {status}")),
    }
}

/// reqwest's message plus its causes (the useful part: "connection refused", "timed out").
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// rustls with the ring provider, Mozilla's root certificates and any extra CA given.
fn tls_config(extra_ca_pem: Option<&str>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem.filter(|p| !p.trim().is_empty()) {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| ApiError::input(format!("extra_ca_pem: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| ApiError::input(format!("extra_ca_pem: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(ApiError::input("extra_ca_pem holds no certificate"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::internal(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // HTTP/1.1 only (no http2 feature): say so in ALPN.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_config_builds_with_the_public_roots_and_refuses_a_bad_extra_ca() {
        assert!(tls_config(None).is_ok());
        assert!(tls_config(Some("not a certificate")).is_err());
    }

    #[test]
    fn server_answers_map_to_stable_errors() {
        let s = |status: u16, code: &str| Failure::Status {
            status,
            code: code.into(),
            message: "m".into(),
        };
        assert_eq!(ApiError::from(s(401, "device_revoked")), ApiError::Revoked);
        assert!(matches!(
            ApiError::from(s(401, "unauthorized")),
            ApiError::Unauthorized { .. }
        ));
        assert!(matches!(
            ApiError::from(s(403, "forbidden")),
            ApiError::NotAllowed { .. }
        ));
        assert!(matches!(
            ApiError::from(s(500, "internal")),
            ApiError::Server { .. }
        ));
        assert!(matches!(
            ApiError::from(Failure::Transport("refused".into())),
            ApiError::Network { .. }
        ));
    }
}
