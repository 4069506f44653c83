//! The local HTTP API of a node (axum), described by the OpenAPI document
//! generated from its routes and types ([`openapi()`], served at
//! `/api/openapi.json`).
//!
//! JSON everywhere; errors are `{"error": {"code", "message"}}` with a 4xx
//! status (5xx only for a failing disk). Reads are open to the local machine;
//! writes need `Authorization: Bearer <token>`, the token the daemon writes
//! into the data directory (mode 0600) at start-up. Request bodies are
//! limited to [`MAX_BODY_BYTES`].
//!
//! - [`types`]: the requests and answers, shared by the handlers and the
//!   command line.
//! - [`client`]: [`Directory`], one client of the node, carried out on the
//!   store or by the running node through [`Remote`].
//! - [`state`]: what the handlers share, and the running network they ask.
//! - `handlers`: one function per route.
//! - `error`: the error answer and the checks every handler shares.
//! - `openapi`: the document's header and the components routes share.
//! - [`web`]: the web map's files and the server-sent events.
//!
//! The API does not run the network: the daemon starts it once the node
//! has joined and hands its [`Client`](crate::net::Client) to the state.

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub mod client;
mod decisions;
mod error;
mod handlers;
mod invites;
mod moderation;
mod openapi;
mod remote;
pub mod serve;
pub mod session;
pub mod state;
mod stream;
pub mod types;
pub mod web;

pub use client::{ClientError, Directory};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use remote::Remote;
pub use state::ApiState;

use handlers::Shared;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The largest body of `POST /api/import` (a batch of rows).
pub const MAX_IMPORT_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Most rows in one `POST /api/import`.
pub const MAX_IMPORT_ROWS: usize = 5_000;
/// Most results of one search.
pub const MAX_SEARCH_RESULTS: usize = 500;

/// The longest search, in characters (a 60 KB query cost 20 s of CPU).
pub const MAX_SEARCH_CHARS: usize = 200;

/// Most exports made at once: each holds the whole directory in memory
/// while it is written; the next wait their turn.
pub const MAX_EXPORTS: usize = 2;

/// The routes, each declared once with its handler: the router serves
/// them and the OpenAPI document describes them, from the same list.
fn routes() -> OpenApiRouter<Arc<ApiState>> {
    let (schemas, paths, import) = routes!(handlers::import);
    let import = import.layer(DefaultBodyLimit::max(MAX_IMPORT_BODY_BYTES));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(openapi_document))
        .routes(routes!(handlers::status))
        .routes(routes!(handlers::init))
        .routes(routes!(handlers::communes_of))
        .routes(routes!(handlers::list, handlers::create))
        .routes(routes!(
            handlers::show,
            handlers::edit,
            handlers::delete_entity
        ))
        .routes(routes!(handlers::history))
        .routes(routes!(handlers::link))
        .routes(routes!(handlers::unlink))
        .routes(routes!(handlers::search))
        .routes(routes!(handlers::search_ids))
        .routes(routes!(handlers::peers))
        .routes(routes!(invites::invite))
        .routes(routes!(invites::invite_qr))
        .routes(routes!(invites::join))
        .routes(routes!(handlers::follow))
        .routes(routes!(decisions::decide))
        .routes(routes!(decisions::tally))
        .routes(routes!(decisions::proposals))
        .routes(routes!(decisions::block, decisions::unblock))
        .routes(routes!(moderation::queue))
        .routes(routes!(moderation::moderation, moderation::moderate))
        .routes(routes!(moderation::report, moderation::withdraw))
        .routes(routes!(web::events))
        .routes(routes!(handlers::create_pairing))
        .routes(routes!(handlers::pair))
        .routes(routes!(handlers::session))
        .routes(routes!(handlers::export))
        .routes((schemas, paths, import))
}

/// The OpenAPI document of this API, generated from its routes and types.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = routes().into_openapi();
    openapi::layers_everywhere(&mut doc);
    doc
}

/// [`openapi`] as the JSON served at `/api/openapi.json`, made once.
fn openapi_json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serializes")
    });
    &JSON
}

/// The router of the local API.
pub fn router(state: Arc<ApiState>) -> Router {
    let (router, _) = routes().split_for_parts();
    router
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            check_host,
        ))
        .layer(axum::middleware::from_fn(check_site))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// Logs each request: method, route (its template, `/api/entities/{id}`,
/// never the values in the path or the query, which may hold what a
/// citizen typed), status and time taken.
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("(no route)", |route| route.as_str())
        .to_owned();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "API request"
    );
    response
}

/// The headers every answer carries: no guessing of content types
/// (`nosniff`: a JSON answer is never run as a script or shown as a
/// page), no referrer sent on from the map, no framing by another site.
/// The page's own answers add their content security policy.
async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, axum::http::HeaderValue::from_static(value));
    }
    response
}

/// Refuses what a page of another site makes the browser send, on every
/// route, reads included: no other site may write in the citizen's name
/// (even with the session cookie, which SameSite=Strict already keeps
/// from it), nor make the node spend its memory on exports. A browser
/// says where a request comes from in `Sec-Fetch-Site` (anything but
/// `same-origin` or `none`, a typed address, is refused; `same-site`
/// too: another port of 127.0.0.1 is the same site) and in `Origin`
/// (refused unless this node's own). Preflights (`OPTIONS`, which Private
/// Network Access sends before a public page reaches a local address)
/// are refused, and no CORS header is ever sent. Programs send neither
/// header and pass. A top-level navigation to the map itself (a link
/// from elsewhere) passes: it carries no secret and reads nothing.
async fn check_site(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let headers = request.headers();
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let navigation = request.method() == axum::http::Method::GET
        && !request.uri().path().starts_with("/api/")
        && text("sec-fetch-mode") == Some("navigate");
    let cross_site = text("sec-fetch-site")
        .is_some_and(|site| site != "same-origin" && site != "none")
        && !navigation;
    let own_origin = text("host").map(|host| format!("http://{host}"));
    let foreign_origin = text("origin").is_some_and(|origin| Some(origin) != own_origin.as_deref());
    if request.method() == axum::http::Method::OPTIONS || cross_site || foreign_origin {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site",
            "this node answers only its own pages and programs on this computer, not a page of another site",
        )
        .into_response();
    }
    next.run(request).await
}

/// Refuses requests naming another host than this node's (a web page of
/// another site whose name was pointed at 127.0.0.1, "DNS rebinding"),
/// unless the API was made public on purpose.
async fn check_host(
    State(state): Shared,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    if let Some(host) = host
        && state.web().loopback
    {
        let port = state.address().rsplit(':').next().unwrap_or_default();
        let local = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|name| host == format!("{name}:{port}"));
        let own = state.address().strip_prefix("http://") == Some(host);
        if !local && !own {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this node answers as {}, not as {host}", state.address()),
            )
            .into_response();
        }
    }
    next.run(request).await
}

async fn fallback(state: Shared, uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") || uri.path() == "/api" {
        return not_found().await.into_response();
    }
    web::asset(state, uri).await
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; GET /api/openapi.json lists them",
    )
}

/// This OpenAPI document
#[utoipa::path(get, path = "/api/openapi.json", operation_id = "getOpenApi", tag = "node",
    responses((status = 200, description = "The OpenAPI 3.1 description of this API.",
        body = Object)))]
async fn openapi_document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json())
}
