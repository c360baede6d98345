//! Console sessions: a session cookie over the API's own session tokens, CSRF protection, the
//! language choice, and the middleware that renders the API's errors as HTML pages.
//!
//! - Signing in goes through the API's login handler (throttling, uniform timing, argon2id), and
//!   the `lms_...` token it returns becomes an `HttpOnly; SameSite=Strict` cookie (`Secure`
//!   behind HTTPS). The token is stored hashed, expires and is revoked exactly like an API
//!   token; logging out revokes it. Bearer tokens keep working for the API and are ignored here.
//! - CSRF: a synchronizer token derived from the session (SHA-256 over a label and the hash of
//!   the session token), sent back as the `_csrf` form field or the `x-csrf-token` header, is
//!   checked on every request that is not GET or HEAD. The login form, before there is a
//!   session, uses a random double-submit cookie instead.

use super::i18n::Lang;
use super::layout;
use crate::accounts;
use crate::auth::{self, Caller};
use crate::error::{AppError, Json};
use crate::routes::ClientIp;
use crate::state::AppState;
use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use maud::{Markup, html};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sync_core::Role;

/// The session cookie: an API session token.
pub const SESSION_COOKIE: &str = "lastmile_session";
/// The language cookie (`en` or `zh-CN`).
const LANG_COOKIE: &str = "lastmile_lang";
/// The login form's double-submit CSRF cookie.
const LOGIN_COOKIE: &str = "lastmile_login";
/// Where the console's `fetch` calls put the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Set by the console's `fetch` calls: errors stay JSON for the script.
const FETCH_HEADER: &str = "x-console-fetch";

/// A signed-in console user, put in the request's extensions by [`middleware`].
#[derive(Clone, Debug)]
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
    pub name: String,
    /// The language the user chose (stored with the account), if any.
    pub locale: Option<Lang>,
    /// The time zone the user chose (stored with the account), if any.
    pub time_zone: Option<TimeZone>,
}

impl Session {
    /// The zone the user sees times in: their own, else the deployment's.
    pub fn zone(&self, state: &AppState) -> TimeZone {
        self.time_zone
            .clone()
            .unwrap_or_else(|| state.settings.time_zone.clone())
    }
}

/// What every console page needs: the language, the user's time zone, the user.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub lang: Lang,
    /// The user's time zone, else the deployment's.
    pub tz: TimeZone,
    pub session: Session,
    /// The request's path and query, to come back to after a language switch.
    pub here: String,
}

impl Ctx {
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    pub fn caller(&self) -> &Caller {
        &self.session.caller
    }

    pub fn role(&self) -> Role {
        self.session.caller.role
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(AppError::Unauthorized)?;
        Ok(Ctx {
            lang: lang_for(&parts.headers, Some(&session)),
            tz: session.zone(state),
            session,
            here: parts
                .uri
                .path_and_query()
                .map_or("/console".into(), |p| p.as_str().to_owned()),
        })
    }
}

/// The CSRF token of a session: only someone holding the session can know it.
pub fn csrf_token(session_token_hash: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"lastmile console csrf\0");
    h.update(session_token_hash.as_bytes());
    hex::encode(&h.finalize()[..20])
}

/// Constant-time comparison of two tokens (`subtle`: no early exit an attacker could time).
fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The language: the cookie, else the browser's `Accept-Language`, else English.
/// The page language: the one the signed-in user chose (kept with the account, so it follows
/// them to another browser), else this browser's choice, else its `Accept-Language`.
pub fn lang_for(headers: &HeaderMap, session: Option<&Session>) -> Lang {
    session
        .and_then(|s| s.locale)
        .unwrap_or_else(|| lang_of(headers))
}

/// The language of a browser with nobody signed in: its cookie, else `Accept-Language`.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    if let Some(l) = cookie(headers, LANG_COOKIE).and_then(Lang::parse) {
        return l;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map_or(Lang::En, Lang::from_accept_language)
}

fn secure(headers: &HeaderMap) -> &'static str {
    // Behind a TLS-terminating proxy. Only ever adds `Secure`, so trusting it is harmless.
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    if https { "; Secure" } else { "" }
}

fn set_cookie(resp: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Only same-site paths: no open redirects.
fn local_path(next: Option<&str>) -> Option<&str> {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
}

/// The console's response headers: no framing (clickjacking), scripts and styles only from
/// here (inline `style` attributes place the timeline's cards), no MIME sniffing, no full
/// URLs in Referer headers to other sites.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
         script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; \
         base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
];

/// Authenticate the cookie, check CSRF on unsafe methods, render errors as pages, and add the
/// console's security headers.
pub async fn middleware(state: State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = handle(state, req, next).await;
    for (name, value) in SECURITY_HEADERS {
        resp.headers_mut()
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    resp
}

async fn handle(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // The console is cookie-only: a bearer token here would bypass CSRF.
    req.headers_mut().remove(header::AUTHORIZATION);
    req.extensions_mut().remove::<Caller>();
    let mut lang = lang_of(req.headers());
    let fetch = req.headers().contains_key(FETCH_HEADER);
    let mut session = None;
    if let Some(token) = cookie(req.headers(), SESSION_COOKIE).map(str::to_owned)
        && token.starts_with("lms_")
        && let Ok(caller) = auth::authenticate(&state, &token).await
        && caller.device_id.is_none()
    {
        let prefs = accounts::preferences(&state.db, caller.org, caller.user)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let s = Session {
            csrf: csrf_token(&caller.token_hash),
            caller: caller.clone(),
            name: prefs.name,
            locale: prefs.locale.as_deref().and_then(Lang::parse),
            time_zone: prefs
                .time_zone
                .as_deref()
                .and_then(crate::config::parse_time_zone),
        };
        lang = lang_for(req.headers(), Some(&s));
        req.extensions_mut().insert(caller);
        req.extensions_mut().insert(s.clone());
        session = Some(s);
    }
    let path = req.uri().path().to_owned();
    let here = req
        .uri()
        .path_and_query()
        .map_or(path.clone(), |p| p.as_str().to_owned());
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD);
    if unsafe_method && path != "/login" {
        let Some(s) = &session else {
            return error_page(&state, lang, None, fetch, &here, AppError::Unauthorized);
        };
        let (ok, rebuilt) = check_csrf(req, &s.csrf, state.settings.max_body_bytes).await;
        match rebuilt {
            Some(r) if ok => req = r,
            _ => {
                return error_page(
                    &state,
                    lang,
                    session.as_ref(),
                    fetch,
                    &here,
                    AppError::Json {
                        status: StatusCode::FORBIDDEN,
                        code: "csrf",
                        message: lang.t("error.csrf").into(),
                    },
                );
            }
        }
    }
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || !is_json || fetch {
        return resp;
    }
    // An API error from a handler: show it as a page.
    let body = to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let message = v["message"].as_str().unwrap_or_default().to_owned();
    let code = v["code"].as_str().unwrap_or_default().to_owned();
    render_error(
        lang,
        &state,
        session.as_ref(),
        &here,
        status,
        &code,
        &message,
    )
}

/// Whether the request carries the session's CSRF token; gives the request back (with its
/// body, if it had to be read) unless it could not be read.
async fn check_csrf(req: Request, expected: &str, limit: usize) -> (bool, Option<Request>) {
    if let Some(v) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        let ok = same(v, expected);
        return (ok, Some(req));
    }
    let form = req.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes()
            .starts_with(b"application/x-www-form-urlencoded")
    });
    if !form {
        return (false, Some(req));
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, limit).await else {
        return (false, None);
    };
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let ok = fields
        .iter()
        .any(|(k, v)| k == "_csrf" && same(v, expected));
    (ok, Some(Request::from_parts(parts, Body::from(bytes))))
}

fn error_page(
    state: &AppState,
    lang: Lang,
    session: Option<&Session>,
    fetch: bool,
    here: &str,
    e: AppError,
) -> Response {
    if fetch {
        return e.into_response();
    }
    let status = e.status();
    let (code, message) = match &e {
        AppError::Json { code, message, .. } => (*code, message.clone()),
        _ => (e_code(status), String::new()),
    };
    render_error(lang, state, session, here, status, code, &message)
}

fn e_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        _ => "error",
    }
}

fn render_error(
    lang: Lang,
    state: &AppState,
    session: Option<&Session>,
    here: &str,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    if status == StatusCode::UNAUTHORIZED {
        let next = if here.starts_with("/console") && !here.starts_with("/console/events") {
            format!("/login?next={}", urlencode(here))
        } else {
            "/login".into()
        };
        return Redirect::to(&next).into_response();
    }
    let title = match status.as_u16() {
        403 if code == "csrf" => lang.t("error.csrf_title"),
        403 => lang.t("error.forbidden"),
        404 => lang.t("error.not_found"),
        409 | 422 | 400 => lang.t("error.refused"),
        _ => lang.t("error.internal"),
    };
    let detail = match status.as_u16() {
        403 if code != "csrf" => lang.t("error.forbidden_detail").to_owned(),
        500.. => lang.t("error.internal_detail").to_owned(),
        _ => message.to_owned(),
    };
    let ctx = session.map(|s| Ctx {
        lang,
        tz: s.zone(state),
        session: s.clone(),
        here: here.to_owned(),
    });
    let body = html! {
        section.error role="alert" {
            h1 { (title) }
            @if !detail.is_empty() { p.detail { (detail) } }
            p { a href="#" data-back { (lang.t("error.back")) } " · "
                a href="/console" { (lang.t("nav.home")) } }
        }
    };
    let page = match &ctx {
        Some(c) => layout::page(c, title, "", body),
        None => layout::bare(lang, title, body),
    };
    (status, page).into_response()
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// ----- pages -----

/// `/`: the console.
pub async fn root() -> Redirect {
    Redirect::to("/console")
}

/// `/console`: each role's first page; engineers and customers have none.
pub async fn home(ctx: Ctx) -> Result<Redirect, AppError> {
    match ctx.role() {
        Role::Admin | Role::Dispatcher => Ok(Redirect::to("/console/board")),
        Role::Warehouse => Ok(Redirect::to("/console/stock")),
        _ => Err(AppError::Forbidden),
    }
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

fn random_hex() -> String {
    use rand_core::{OsRng, RngCore};
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn login_form(lang: Lang, token: &str, next: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        section.login {
            h1 { "Lastmile" }
            p.sub { (lang.t("login.subtitle")) }
            @if let Some(e) = error { p.flash.bad role="alert" { (e) } }
            form method="post" action="/login" {
                input type="hidden" name="_csrf" value=(token);
                input type="hidden" name="next" value=(next);
                label for="email" { (lang.t("login.email")) }
                input #email type="email" name="email" value=(email) required autocomplete="username" autofocus;
                label for="password" { (lang.t("login.password")) }
                input #password type="password" name="password" required autocomplete="current-password";
                label for="organisation" { (lang.t("login.organisation")) }
                input #organisation type="text" name="organisation" autocomplete="organization";
                button type="submit" { (lang.t("login.submit")) }
            }
            p.langs { a href="/lang/en?next=/login" lang="en" { "English" } " · "
                a href="/lang/zh-CN?next=/login" lang="zh-CN" { "中文" } }
        }
    }
}

/// `GET /login`
pub async fn login_page(headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let lang = lang_of(&headers);
    let token = random_hex();
    let next = local_path(q.next.as_deref()).unwrap_or("/console");
    let mut resp = layout::bare(
        lang,
        lang.t("login.title"),
        login_form(lang, &token, next, "", None),
    )
    .into_response();
    set_cookie(
        &mut resp,
        format!(
            "{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict{}",
            secure(&headers)
        ),
    );
    resp
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    email: String,
    password: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: the API's login, then the cookie.
pub async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    axum::Form(f): axum::Form<LoginForm>,
) -> Response {
    let lang = lang_of(&headers);
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let next = local_path(Some(&f.next)).unwrap_or("/console").to_owned();
    let again = |status: StatusCode, msg: &str| {
        (
            status,
            layout::bare(
                lang,
                lang.t("login.title"),
                login_form(lang, expected, &next, &f.email, Some(msg)),
            ),
        )
            .into_response()
    };
    if expected.is_empty() || !same(expected, &f.csrf) {
        return again(StatusCode::FORBIDDEN, lang.t("login.expired"));
    }
    let req = crate::routes::auth::LoginRequest {
        email: f.email.clone(),
        password: f.password.clone(),
        organisation: Some(f.organisation.trim().to_owned()).filter(|o| !o.is_empty()),
    };
    match crate::routes::auth::login(State(state.clone()), ip, Json(req)).await {
        Ok(Json(out)) => {
            let mut resp = Redirect::to(&next).into_response();
            let max_age = state.settings.session_ttl.as_secs();
            set_cookie(
                &mut resp,
                format!(
                    "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
                    out.token,
                    secure(&headers)
                ),
            );
            set_cookie(
                &mut resp,
                format!("{LOGIN_COOKIE}=; Path=/login; Max-Age=0"),
            );
            resp
        }
        Err(AppError::RateLimited { .. }) => {
            again(StatusCode::TOO_MANY_REQUESTS, lang.t("login.rate_limited"))
        }
        Err(AppError::BadRequest { .. }) => again(
            StatusCode::BAD_REQUEST,
            lang.t("login.organisation_required"),
        ),
        Err(AppError::Unauthorized) => again(StatusCode::UNAUTHORIZED, lang.t("login.failed")),
        Err(e) => e.into_response(),
    }
}

/// `POST /logout`: revoke the session, drop the cookie.
pub async fn logout(State(state): State<AppState>, ctx: Ctx) -> Result<Response, AppError> {
    let c = ctx.caller();
    accounts::revoke_session(&state.db, c.org, &c.token_hash).await?;
    let mut resp = Redirect::to("/login").into_response();
    set_cookie(
        &mut resp,
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(resp)
}

/// `GET /lang/{code}?next=`: remember the language in a cookie, and with the account when
/// someone is signed in.
pub async fn set_lang(
    State(state): State<AppState>,
    session: Option<axum::Extension<Session>>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<NextQuery>,
) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::En);
    if let Some(axum::Extension(s)) = session
        && let Err(e) =
            accounts::set_locale(&state.db, s.caller.org, s.caller.user, lang.code()).await
    {
        tracing::warn!(error = %e, "could not store the user's language");
    }
    let next = local_path(q.next.as_deref()).unwrap_or("/console");
    let mut resp = Redirect::to(next).into_response();
    set_cookie(
        &mut resp,
        format!(
            "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000{}",
            lang.code(),
            secure(&headers)
        ),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; lastmile_session=lms_x; lastmile_lang=zh-CN"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("lms_x"));
        assert_eq!(lang_of(&h), Lang::ZhCn);
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn redirects_stay_on_this_site() {
        assert_eq!(local_path(Some("/console/board")), Some("/console/board"));
        assert_eq!(local_path(Some("//evil.example")), None);
        assert_eq!(local_path(Some("https://evil.example")), None);
        assert_eq!(local_path(Some("/\\evil.example")), None);
    }

    #[test]
    fn csrf_tokens_differ_per_session() {
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert!(same(&csrf_token("a"), &csrf_token("a")));
    }
}
