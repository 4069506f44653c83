//! The web map, served by the node on its local API address: HTML, script
//! and style of `node/web/`, and the vendored Leaflet, embedded in the
//! binary so that it needs no file beside it. The page talks to the same
//! local API as the command line, and hears of changes through
//! `GET /api/events` (server-sent events).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};
use libp2p::futures::Stream;
use libp2p::futures::stream;

use super::state::ApiState;

static WEB: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/web");

/// OpenStreetMap's standard tiles.
pub const DEFAULT_TILES: &str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";

/// Credit shown for the default tiles.
pub const DEFAULT_TILES_ATTRIBUTION: &str =
    "© <a href=\"https://www.openstreetmap.org/copyright\">OpenStreetMap</a> contributors";

/// How the page is served.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The tile URL template (`{z}/{x}/{y}`), or empty for no tiles (a blank
    /// background).
    pub tiles: String,
    /// The credit shown for the tiles (HTML, from the node's operator).
    pub tiles_attribution: String,
    /// Whether the API listens on loopback only: then browsers may be
    /// paired to write, and requests naming another host are refused.
    pub loopback: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            tiles: DEFAULT_TILES.into(),
            tiles_attribution: DEFAULT_TILES_ATTRIBUTION.into(),
            loopback: true,
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Escapes text for an HTML attribute value.
fn attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The page, with the settings it needs in `<meta>` tags.
fn index(state: &ApiState) -> String {
    let template = WEB
        .get_file("index.html")
        .and_then(|file| file.contents_utf8())
        .unwrap_or_default();
    let web = state.web();
    template
        .replace("{{TILES}}", &attribute(&web.tiles))
        .replace("{{TILES_ATTRIBUTION}}", &attribute(&web.tiles_attribution))
}

/// Serves the page and its files; anything else is a 404.
pub async fn asset(State(state): State<Arc<ApiState>>, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let security = |mut response: Response| {
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data: https: http:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            ),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        response
    };
    if path.is_empty() || path == "index.html" {
        return security(
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                index(&state),
            )
                .into_response(),
        );
    }
    match WEB.get_file(path) {
        Some(file) if !path.ends_with(".sh") => security(
            (
                [
                    (header::CONTENT_TYPE, content_type(path)),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                file.contents(),
            )
                .into_response(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found",
        )
            .into_response(),
    }
}

/// Hear of changes as they happen
///
/// Server-sent events (text/event-stream). `change`: a change was
/// committed to the store, data `{"id": entity id, "origin": "local" |
/// "network" | "import" | "waiting"}`; `reload`: too many changes at once
/// to tell each (an import), read the list again; `joined`: the node has
/// just joined. Comments every 15 s keep the connection open. The web map
/// listens here.
#[utoipa::path(get, path = "/api/events", operation_id = "events", tag = "web",
    responses(
        (status = 200, description = "The event stream, until the client leaves.",
            content_type = "text/event-stream", body = String),
        (status = 500, response = super::openapi::Internal),
    ))]
pub async fn events(
    State(state): State<Arc<ApiState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    enum Phase {
        Waiting(Arc<ApiState>),
        Listening(tokio::sync::broadcast::Receiver<crate::store::Applied>),
    }
    let start = match state.joined() {
        Some(local) => Phase::Listening(local.store.subscribe()),
        None => Phase::Waiting(state),
    };
    let events = stream::unfold(start, |phase| async move {
        match phase {
            Phase::Waiting(state) => loop {
                if let Some(local) = state.joined() {
                    let event = Event::default().event("joined").data("{}");
                    return Some((Ok(event), Phase::Listening(local.store.subscribe())));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            },
            Phase::Listening(mut receiver) => {
                match receiver.recv().await {
                    Ok(applied) => {
                        let data = serde_json::json!({
                            "id": applied.doc.to_string(),
                            "origin": format!("{:?}", applied.origin).to_lowercase(),
                        });
                        let event = Event::default().event("change").data(data.to_string());
                        Some((Ok(event), Phase::Listening(receiver)))
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        // Too many at once (an import): the page reloads.
                        let event = Event::default()
                            .event("reload")
                            .data(format!("{{\"missed\": {missed}}}"));
                        Some((Ok(event), Phase::Listening(receiver)))
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
                }
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
