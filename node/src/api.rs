//! The local HTTP API of a node (axum), described by `openapi.json`.
//!
//! JSON everywhere; errors are `{"error": {"code", "message"}}` with a 4xx
//! status (5xx only for a failing disk). Reads are open to the local machine;
//! writes need `Authorization: Bearer <token>`, the token the daemon writes
//! into the data directory (mode 0600) at start-up. Request bodies are
//! limited to [`MAX_BODY_BYTES`].

use std::sync::{Arc, RwLock};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use crdt_model::communes;
use crdt_model::document::{Edit, EditError, Entity, Relation};
use crdt_model::ids::EntityId;
use crdt_model::schema::Kind;
use serde::Deserialize;
use serde_json::{Value as JsonValue, json};

use crate::identity::{DataDir, IdentityError};
use crate::index::Filter;
use crate::local::{Join, Local, LocalError, NewEntity};
use crate::net::{self, NetConfig};
use crate::opendata::{self, Licence, export::ExportOptions, export::Format, import::ImportRow};
use crate::store::StoreError;
use crate::web::WebConfig;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The largest body of `POST /api/import` (a batch of rows).
pub const MAX_IMPORT_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Most rows in one `POST /api/import`.
pub const MAX_IMPORT_ROWS: usize = 5_000;
/// Most results of one search.
pub const MAX_SEARCH_RESULTS: usize = 500;

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Told of the network's status once it listens.
type NetworkHook = Box<dyn Fn(&net::NetStatus) + Send + Sync>;

/// What the handlers share.
pub struct ApiState {
    dir: DataDir,
    token: String,
    local: RwLock<Option<Arc<Local>>>,
    address: String,
    /// How to run the network once joined; `None`: no network.
    net_config: Option<NetConfig>,
    net: RwLock<Option<net::Client>>,
    /// Called with the network's status once it listens (to publish the
    /// node's addresses).
    on_network: Option<NetworkHook>,
    /// How the web map is served.
    web: WebConfig,
}

impl ApiState {
    /// The state of a node on `dir`, joined (`local`) or not yet, without
    /// network.
    pub fn new(dir: DataDir, token: String, local: Option<Local>, address: String) -> Self {
        Self {
            dir,
            token,
            local: RwLock::new(local.map(Arc::new)),
            address,
            net_config: None,
            net: RwLock::new(None),
            on_network: None,
            web: WebConfig::default(),
        }
    }

    /// Serves the web map with `web`.
    pub fn with_web(mut self, web: WebConfig) -> Self {
        self.web = web;
        self
    }

    pub(crate) fn web(&self) -> &WebConfig {
        &self.web
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// The citizen's node, once joined.
    pub(crate) fn joined(&self) -> Option<Arc<Local>> {
        self.local.read().ok().and_then(|slot| slot.clone())
    }

    /// Runs the network with `config` once the node has joined; `on_network`
    /// hears of it when it listens.
    pub fn with_network(
        mut self,
        config: NetConfig,
        on_network: impl Fn(&net::NetStatus) + Send + Sync + 'static,
    ) -> Self {
        self.net_config = Some(config);
        self.on_network = Some(Box::new(on_network));
        self
    }

    /// Starts the network if it is configured, the node has joined and it
    /// does not run yet.
    pub async fn start_network(self: &Arc<Self>) -> Result<(), net::NetError> {
        let Some(config) = self.net_config.clone() else {
            return Ok(());
        };
        let local = self.local.read().ok().and_then(|slot| slot.clone());
        let Some(local) = local else {
            return Ok(());
        };
        if self.network().is_some() {
            return Ok(());
        }
        let postal_keys = local.postal_keys().map_err(|error| {
            net::NetError::Setup(format!("reading the followed postal codes: {error}"))
        })?;
        let (client, _task) = net::start(
            local.store.clone(),
            local.identity.network_seed,
            config,
            postal_keys,
        )
        .await?;
        let status = client.status().await?;
        if let Ok(mut slot) = self.net.write() {
            *slot = Some(client);
        }
        if let Some(on_network) = &self.on_network {
            on_network(&status);
        }
        Ok(())
    }

    /// What the network does, if it runs.
    pub async fn network_status(&self) -> Option<net::NetStatus> {
        self.network()?.status().await.ok()
    }

    fn network(&self) -> Option<net::Client> {
        self.net.read().ok().and_then(|slot| slot.clone())
    }

    fn local(&self) -> Result<Arc<Local>, ApiError> {
        self.local
            .read()
            .map_err(|_| ApiError::internal("state lock poisoned"))?
            .clone()
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "not_joined",
                    "this node has no identity yet: POST /api/init with your postal code first",
                )
            })
    }
}

/// An error answered as `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<LocalError> for ApiError {
    fn from(error: LocalError) -> Self {
        let message = error.to_string();
        let (status, code) = match &error {
            LocalError::UnknownEntity(_) => (StatusCode::NOT_FOUND, "unknown_entity"),
            LocalError::BadId(_) => (StatusCode::BAD_REQUEST, "bad_id"),
            LocalError::UnknownPostalCode(_) => (StatusCode::BAD_REQUEST, "unknown_postal_code"),
            LocalError::AmbiguousPostalCode { .. } | LocalError::WrongInsee { .. } => {
                (StatusCode::BAD_REQUEST, "choose_commune")
            }
            LocalError::PersonByAdd => (StatusCode::BAD_REQUEST, "invalid"),
            LocalError::Edit(EditError::Invalid(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            }
            LocalError::Edit(EditError::NotAllowed(_)) => (StatusCode::FORBIDDEN, "not_allowed"),
            LocalError::Edit(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            LocalError::Identity(IdentityError::AlreadyInitialized(_)) => {
                (StatusCode::CONFLICT, "already_joined")
            }
            LocalError::Refused(_) => (StatusCode::FORBIDDEN, "refused"),
            LocalError::Envelope(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            LocalError::TooManyFollows(_) => (StatusCode::CONFLICT, "too_many"),
            LocalError::Identity(_) | LocalError::Store(_) | LocalError::Profile(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        Self::new(status, code, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        LocalError::from(error).into()
    }
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(|rejection| {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_request"
        };
        ApiError::new(status, code, rejection.body_text())
    })
}

fn query<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    params.map(|Query(value)| value).map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            rejection.body_text(),
        )
    })
}

fn entity_id(text: &str) -> Result<EntityId, ApiError> {
    text.parse()
        .map_err(|error: crdt_model::ids::IdError| LocalError::BadId(error).into())
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::internal(format!("task failed: {error}")))?
}

/// Checks the bearer token of a write.
fn authorize_write(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    // Constant-time comparison: the token is a secret.
    let matches = given.is_some_and(|given| {
        given.len() == state.token.len()
            && given
                .bytes()
                .zip(state.token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if matches {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "writes need the header `Authorization: Bearer <token>`, with the token from the data directory's api.token file",
        ))
    }
}

type Shared = State<Arc<ApiState>>;

/// The router of the local API.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/status", get(status))
        .route("/api/init", post(init))
        .route("/api/communes/{query}", get(communes_of))
        .route("/api/entities", get(list).post(create))
        .route(
            "/api/entities/{id}",
            get(show).patch(edit).delete(delete_entity),
        )
        .route("/api/entities/{id}/history", get(history))
        .route("/api/entities/{id}/links", post(link))
        .route("/api/entities/{id}/links/{relation}", delete(unlink))
        .route("/api/search", get(search))
        .route("/api/peers", get(peers))
        .route("/api/follows", post(follow))
        .route("/api/events", get(crate::web::events))
        .route("/api/export/{format}", get(export))
        .route(
            "/api/import",
            post(import).layer(DefaultBodyLimit::max(MAX_IMPORT_BODY_BYTES)),
        )
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            check_host,
        ))
        .with_state(state)
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
        && state.web.embed_token
    {
        let port = state.address.rsplit(':').next().unwrap_or_default();
        let local = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|name| host == format!("{name}:{port}"));
        let own = state.address.strip_prefix("http://") == Some(host);
        if !local && !own {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this node answers as {}, not as {host}", state.address),
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
    crate::web::asset(state, uri).await
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; GET /api/openapi.json lists them",
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn status(State(state): Shared) -> Result<Json<JsonValue>, ApiError> {
    let local = state
        .local
        .read()
        .map_err(|_| ApiError::internal("lock"))?
        .clone();
    let shared = state.clone();
    let network = match state.network() {
        Some(client) => Some(
            client
                .status()
                .await
                .map_err(|error| ApiError::internal(error.to_string()))?,
        ),
        None => None,
    };
    blocking(move || {
        let mut status = match &local {
            Some(local) => local.status(&shared.dir)?,
            None => json!({"joined": false, "data_dir": shared.dir.root()}),
        };
        status["api"] = json!(shared.address);
        if let (Some(local), Some(network)) = (&local, network) {
            status["network"] = network_status(local, &network)?;
        }
        Ok(Json(status))
    })
    .await
}

/// The network part of the status: peer id, addresses, and per followed
/// postal key its documents, peers and last sync.
fn network_status(local: &Local, network: &net::NetStatus) -> Result<JsonValue, ApiError> {
    let mut topics = Vec::new();
    for topic in &network.topics {
        let documents = local
            .store
            .sync_items(&topic.postal_key)
            .map_err(LocalError::from)?
            .len();
        topics.push(json!({
            "postal_code": topic.postal_key,
            "documents": documents,
            "peers": topic.peers,
            "last_sync": topic.last_sync,
        }));
    }
    Ok(json!({
        "peer_id": network.peer_id,
        "listen": network.listen,
        "peers": network.peers.len(),
        "postal_codes": topics,
        "rejected": network.rejected,
        "relayed_peers": network.peers.iter().filter(|peer| peer.relayed).count(),
        "hole_punching": network.hole_punching,
        "syncing": network.syncing,
    }))
}

async fn peers(State(state): Shared) -> Result<Json<JsonValue>, ApiError> {
    match state.network() {
        Some(client) => {
            let status = client
                .status()
                .await
                .map_err(|error| ApiError::internal(error.to_string()))?;
            Ok(Json(json!(status.peers)))
        }
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "offline",
            "this node's network is not running (it starts once the node has joined)",
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowRequest {
    postal_code: String,
}

async fn follow(
    State(state): Shared,
    headers: HeaderMap,
    body: Result<Json<FollowRequest>, JsonRejection>,
) -> Result<Json<JsonValue>, ApiError> {
    authorize_write(&state, &headers)?;
    let request = json_body(body)?;
    let local = state.local()?;
    let key = blocking(move || Ok(local.follow(&request.postal_code)?)).await?;
    if let Some(client) = state.network() {
        client
            .follow(&key)
            .await
            .map_err(|error| ApiError::internal(error.to_string()))?;
    }
    let local = state.local()?;
    let keys = blocking(move || Ok(local.postal_keys()?)).await?;
    Ok(Json(json!({"following": key, "postal_codes": keys})))
}

async fn init(
    State(state): Shared,
    headers: HeaderMap,
    body: Result<Json<JoinRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Entity>), ApiError> {
    authorize_write(&state, &headers)?;
    let request = json_body(body)?;
    let shared = state.clone();
    let joined = blocking(move || {
        let mut slot = shared
            .local
            .write()
            .map_err(|_| ApiError::internal("lock"))?;
        if slot.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_joined",
                "this node already has an identity",
            ));
        }
        let local = Local::init(
            &shared.dir,
            &Join {
                postal_code: request.postal_code,
                insee: request.insee,
                name: request.name,
                email: request.email,
            },
        )?;
        let person = local.entity(local.profile.person)?;
        *slot = Some(Arc::new(local));
        Ok((StatusCode::CREATED, Json(person)))
    })
    .await?;
    // Joined: the network can start.
    let starting = state.clone();
    tokio::spawn(async move {
        if let Err(error) = starting.start_network().await {
            eprintln!("the network could not start: {error}");
        }
    });
    Ok(joined)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinRequest {
    postal_code: String,
    #[serde(default)]
    insee: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

async fn communes_of(Path(query): Path<String>) -> Result<Json<JsonValue>, ApiError> {
    let table = communes::table();
    let found: Vec<_> = match table.by_insee(&query) {
        Some(commune) if table.by_postal_code(&query).is_empty() => vec![commune],
        _ => table.by_postal_code(&query).to_vec(),
    };
    if found.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_postal_code",
            format!("{query} is neither a French postal code nor an INSEE code we know"),
        ));
    }
    Ok(Json(json!(found)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    kind: Option<Kind>,
    #[serde(default)]
    postal_code: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

impl ListQuery {
    fn filter(&self) -> Filter {
        Filter {
            kind: self.kind,
            postal_key: self.postal_code.clone(),
            tag: self.tag.clone(),
        }
    }
}

async fn list(
    State(state): Shared,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let local = state.local()?;
    // The cached JSON of each entity goes out as it is stored.
    let body = blocking(move || Ok(local.store.list_json(&params.filter())?)).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn search(
    State(state): Shared,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<Entity>>, ApiError> {
    let params = query(params)?;
    let text = params.q.clone().unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "give the words to search for in ?q=",
        ));
    }
    let limit = params.limit.unwrap_or(50).min(MAX_SEARCH_RESULTS);
    let local = state.local()?;
    blocking(move || Ok(Json(local.store.search(&text, &params.filter(), limit)?))).await
}

/// The list filters and the licence. Written out rather than flattening
/// [`ListQuery`]: serde cannot refuse unknown parameters of a flattened
/// struct, and a mistyped filter must not export the whole directory.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    #[serde(default)]
    kind: Option<Kind>,
    #[serde(default)]
    postal_code: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    licence: Option<String>,
}

async fn export(
    State(state): Shared,
    Path(format): Path<String>,
    params: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message);
    let format: Format = format.parse().map_err(bad)?;
    let licence: Licence = match &params.licence {
        Some(licence) => licence.parse().map_err(bad)?,
        None => Licence::default(),
    };
    let local = state.local()?;
    let body = blocking(move || {
        let filter = Filter {
            kind: params.kind,
            postal_key: params.postal_code.clone(),
            tag: params.tag.clone(),
        };
        let entities = local.store.list(&filter)?;
        let options = ExportOptions {
            licence,
            postal_key: params.postal_code,
            kind: params.kind,
            now_ms: crate::local::now_ms(),
        };
        let mut body = Vec::new();
        opendata::export::export(&entities, format, &options, &mut body)
            .map_err(|error| ApiError::internal(error.to_string()))?;
        Ok(body)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    rows: Vec<ImportRow>,
}

async fn import(
    State(state): Shared,
    headers: HeaderMap,
    body: Result<Json<ImportBody>, JsonRejection>,
) -> Result<Json<JsonValue>, ApiError> {
    authorize_write(&state, &headers)?;
    let body = json_body(body)?;
    if body.rows.len() > MAX_IMPORT_ROWS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "{} rows in one request; send at most {MAX_IMPORT_ROWS} at a time",
                body.rows.len()
            ),
        ));
    }
    let local = state.local()?;
    blocking(move || Ok(Json(json!({"outcomes": local.import(&body.rows)?})))).await
}

async fn create(
    State(state): Shared,
    headers: HeaderMap,
    body: Result<Json<NewEntity>, JsonRejection>,
) -> Result<(StatusCode, Json<Entity>), ApiError> {
    authorize_write(&state, &headers)?;
    let new = json_body(body)?;
    let local = state.local()?;
    blocking(move || Ok((StatusCode::CREATED, Json(local.add(&new)?)))).await
}

async fn show(State(state): Shared, Path(id): Path<String>) -> Result<Json<Entity>, ApiError> {
    let id = entity_id(&id)?;
    let local = state.local()?;
    blocking(move || Ok(Json(local.entity(id)?))).await
}

async fn history(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Json<Vec<crate::store::HistoryEntry>>, ApiError> {
    let id = entity_id(&id)?;
    let local = state.local()?;
    blocking(move || {
        local
            .store
            .history(&id)?
            .map(Json)
            .ok_or_else(|| LocalError::UnknownEntity(id).into())
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditRequest {
    edits: Vec<Edit>,
}

/// Applies edits for a write endpoint whose token was checked.
async fn write(
    state: Arc<ApiState>,
    id: &str,
    edits: impl FnOnce(&Local) -> Vec<Edit> + Send + 'static,
) -> Result<Json<Entity>, ApiError> {
    let id = entity_id(id)?;
    let local = state.local()?;
    blocking(move || {
        let edits = edits(&local);
        if edits.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "no edits given",
            ));
        }
        Ok(Json(local.edit(id, &edits)?))
    })
    .await
}

async fn edit(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<EditRequest>, JsonRejection>,
) -> Result<Json<Entity>, ApiError> {
    authorize_write(&state, &headers)?;
    let request = json_body(body)?;
    write(state, &id, move |_| request.edits).await
}

async fn delete_entity(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Entity>, ApiError> {
    authorize_write(&state, &headers)?;
    write(state, &id, |_| vec![Edit::SetDeleted(true)]).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkRequest {
    relation: Relation,
    #[serde(default)]
    comment: Option<String>,
}

async fn link(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<LinkRequest>, JsonRejection>,
) -> Result<Json<Entity>, ApiError> {
    authorize_write(&state, &headers)?;
    let request = json_body(body)?;
    write(state, &id, move |local| {
        vec![Edit::Link {
            relation: request.relation,
            comment: request.comment,
            person: Some(local.profile.person),
        }]
    })
    .await
}

async fn unlink(
    State(state): Shared,
    headers: HeaderMap,
    Path((id, relation)): Path<(String, String)>,
) -> Result<Json<Entity>, ApiError> {
    authorize_write(&state, &headers)?;
    let relation: Relation =
        relation
            .parse()
            .map_err(|error: crdt_model::schema::ValidationError| {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", error.to_string())
            })?;
    write(state, &id, move |_| vec![Edit::Unlink(relation)]).await
}
