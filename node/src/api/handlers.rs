//! The handlers of the local API's routes.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crdt_model::communes;
use crdt_model::document::{Edit, Entity, NewEntity, Relation};
use crdt_model::schema::Kind;
use serde::Deserialize;
use serde_json::{Value as JsonValue, json};

use super::error::{ApiError, authorize_write, blocking, entity_id, json_body, query};
use super::state::ApiState;
use super::{MAX_IMPORT_ROWS, MAX_SEARCH_RESULTS};
use crate::local::{Join, Local, LocalError};
use crate::net;
use crate::opendata::{self, Licence, export::ExportOptions, export::Format, import::ImportRow};
use crate::store::Filter;

pub(super) type Shared = State<Arc<ApiState>>;

pub(super) async fn status(State(state): Shared) -> Result<Json<JsonValue>, ApiError> {
    let local = state.joined();
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
            Some(local) => local.status(shared.dir())?,
            None => json!({"joined": false, "data_dir": shared.dir().root()}),
        };
        status["api"] = json!(shared.address());
        if let (Some(local), Some(network)) = (&local, network) {
            status["network"] = network_status(local, &network)?;
        } else if let Some(why) = shared.network_failure() {
            status["network"] = json!("stopped");
            status["network_error"] = json!(why);
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

pub(super) async fn peers(State(state): Shared) -> Result<Json<JsonValue>, ApiError> {
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
pub(super) struct FollowRequest {
    postal_code: String,
}

pub(super) async fn follow(
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

pub(super) async fn init(
    State(state): Shared,
    headers: HeaderMap,
    body: Result<Json<JoinRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Entity>), ApiError> {
    authorize_write(&state, &headers)?;
    let request = json_body(body)?;
    let shared = state.clone();
    let person = blocking(move || {
        let local = shared.join(|| {
            Ok(Local::init(
                shared.dir(),
                &Join {
                    postal_code: request.postal_code,
                    insee: request.insee,
                    name: request.name,
                    email: request.email,
                },
            )?)
        })?;
        Ok(local.entity(local.profile.person)?)
    })
    .await?;
    // Joined: the daemon starts the network.
    state.joined_now();
    Ok((StatusCode::CREATED, Json(person)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JoinRequest {
    postal_code: String,
    #[serde(default)]
    insee: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

pub(super) async fn communes_of(Path(query): Path<String>) -> Result<Json<JsonValue>, ApiError> {
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
pub(super) struct ListQuery {
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

pub(super) async fn list(
    State(state): Shared,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let local = state.local()?;
    // The cached JSON of each entity goes out as it is stored.
    let body = blocking(move || Ok(local.store.list_json(&params.filter())?)).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub(super) async fn search(
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
pub(super) struct ExportQuery {
    #[serde(default)]
    kind: Option<Kind>,
    #[serde(default)]
    postal_code: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    licence: Option<String>,
}

pub(super) async fn export(
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
pub(super) struct ImportBody {
    rows: Vec<ImportRow>,
}

pub(super) async fn import(
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

pub(super) async fn create(
    State(state): Shared,
    headers: HeaderMap,
    body: Result<Json<NewEntity>, JsonRejection>,
) -> Result<(StatusCode, Json<Entity>), ApiError> {
    authorize_write(&state, &headers)?;
    let new = json_body(body)?;
    let local = state.local()?;
    blocking(move || Ok((StatusCode::CREATED, Json(local.add(&new)?)))).await
}

pub(super) async fn show(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Json<Entity>, ApiError> {
    let id = entity_id(&id)?;
    let local = state.local()?;
    blocking(move || Ok(Json(local.entity(id)?))).await
}

pub(super) async fn history(
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
pub(super) struct EditRequest {
    edits: Vec<Edit>,
}

/// Applies edits for a write endpoint whose token was checked.
pub(super) async fn write(
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

pub(super) async fn edit(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<EditRequest>, JsonRejection>,
) -> Result<Json<Entity>, ApiError> {
    authorize_write(&state, &headers)?;
    let request = json_body(body)?;
    write(state, &id, move |_| request.edits).await
}

pub(super) async fn delete_entity(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Entity>, ApiError> {
    authorize_write(&state, &headers)?;
    write(state, &id, |_| vec![Edit::SetDeleted(true)]).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkRequest {
    relation: Relation,
    #[serde(default)]
    comment: Option<String>,
}

pub(super) async fn link(
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

pub(super) async fn unlink(
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
