//! The handlers of the local API's routes: each reads its typed request
//! ([`types`](super::types)), carries it out with the same
//! [`Local`] operation the command line uses on the store, and answers
//! with a typed response.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crdt_model::communes;
use crdt_model::document::{Entity, NewEntity, Relation};
use serde_json::{Value as JsonValue, json};

use super::client::joined_status;
use super::error::{ApiError, blocking, entity_id, json_body, query};
use super::state::ApiState;
use super::types::{
    EditRequest, ExportQuery, FollowRequest, Following, ImportRequest, Imported, LinkRequest,
    ListQuery, NetworkState, NetworkStatus, NotJoinedStatus, PostalCodeStatus, Status,
};
use super::{MAX_IMPORT_ROWS, MAX_SEARCH_RESULTS};
use crate::local::{Join, Local, LocalError};
use crate::net::{self, PeerStatus};
use crate::opendata::{Licence, export::Format};
use crate::store::HistoryEntry;

pub(super) type Shared = State<Arc<ApiState>>;

pub(super) async fn status(State(state): Shared) -> Result<Json<Status>, ApiError> {
    let local = state.try_joined()?;
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
        let api = Some(shared.address().to_owned());
        let Some(local) = local else {
            return Ok(Json(Status::NotJoined(NotJoinedStatus {
                joined: false,
                data_dir: shared.dir().root().to_path_buf(),
                api,
            })));
        };
        let mut status = joined_status(&local)?;
        status.api = api;
        if let Some(network) = network {
            status.network = NetworkState::Running(Box::new(network_status(&local, &network)?));
        } else if let Some(why) = shared.network_failure() {
            status.network = NetworkState::Not("stopped".into());
            status.network_error = Some(why);
        }
        Ok(Json(Status::Joined(Box::new(status))))
    })
    .await
}

/// The network part of the status: peer id, addresses, and per followed
/// postal key its documents, peers and last sync.
fn network_status(local: &Local, network: &net::NetStatus) -> Result<NetworkStatus, ApiError> {
    let mut postal_codes = Vec::new();
    for topic in &network.topics {
        let documents = local
            .store
            .sync_items(&topic.postal_key)
            .map_err(LocalError::from)?
            .len();
        postal_codes.push(PostalCodeStatus {
            postal_code: topic.postal_key.clone(),
            documents,
            peers: topic.peers,
            last_sync: topic.last_sync,
        });
    }
    Ok(NetworkStatus {
        peer_id: network.peer_id.clone(),
        listen: network.listen.clone(),
        peers: network.peers.len(),
        postal_codes,
        rejected: network.rejected.clone(),
        relayed_peers: network.peers.iter().filter(|peer| peer.relayed).count(),
        hole_punching: network.hole_punching.clone(),
        syncing: network.syncing.clone(),
    })
}

pub(super) async fn peers(State(state): Shared) -> Result<Json<Vec<PeerStatus>>, ApiError> {
    match state.network() {
        Some(client) => {
            let status = client
                .status()
                .await
                .map_err(|error| ApiError::internal(error.to_string()))?;
            Ok(Json(status.peers))
        }
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "offline",
            "this node's network is not running (it starts once the node has joined)",
        )),
    }
}

pub(super) async fn follow(
    State(state): Shared,
    headers: HeaderMap,
    body: Result<Json<FollowRequest>, JsonRejection>,
) -> Result<Json<Following>, ApiError> {
    state.authorize_write(&headers)?;
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
    let postal_codes = blocking(move || Ok(local.postal_keys()?)).await?;
    Ok(Json(Following {
        following: key,
        postal_codes,
    }))
}

pub(super) async fn init(
    State(state): Shared,
    headers: HeaderMap,
    body: Result<Json<Join>, JsonRejection>,
) -> Result<(StatusCode, Json<Entity>), ApiError> {
    state.authorize_write(&headers)?;
    let join = json_body(body)?;
    let shared = state.clone();
    let person = blocking(move || {
        let local = shared.join(|| Ok(Local::init(shared.dir(), &join)?))?;
        Ok(local.entity(local.profile.person)?)
    })
    .await?;
    // Joined: the daemon starts the network.
    state.joined_now();
    Ok((StatusCode::CREATED, Json(person)))
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
    let filter = params.filter();
    let body = blocking(move || Ok(local.export(format, &filter, licence)?)).await?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

pub(super) async fn import(
    State(state): Shared,
    headers: HeaderMap,
    body: Result<Json<ImportRequest>, JsonRejection>,
) -> Result<Json<Imported>, ApiError> {
    state.authorize_write(&headers)?;
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
    blocking(move || {
        Ok(Json(Imported {
            outcomes: local.import(&body.rows)?,
        }))
    })
    .await
}

pub(super) async fn create(
    State(state): Shared,
    headers: HeaderMap,
    body: Result<Json<NewEntity>, JsonRejection>,
) -> Result<(StatusCode, Json<Entity>), ApiError> {
    state.authorize_write(&headers)?;
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
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let id = entity_id(&id)?;
    let local = state.local()?;
    blocking(move || Ok(Json(local.history(id)?))).await
}

/// Carries out a write on an entity whose token was checked.
async fn write(
    state: Arc<ApiState>,
    id: &str,
    write: impl FnOnce(&Local, crdt_model::ids::EntityId) -> Result<Entity, ApiError> + Send + 'static,
) -> Result<Json<Entity>, ApiError> {
    let id = entity_id(id)?;
    let local = state.local()?;
    blocking(move || Ok(Json(write(&local, id)?))).await
}

pub(super) async fn edit(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<EditRequest>, JsonRejection>,
) -> Result<Json<Entity>, ApiError> {
    state.authorize_write(&headers)?;
    let request = json_body(body)?;
    write(state, &id, move |local, id| {
        if request.edits.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "no edits given",
            ));
        }
        Ok(local.edit(id, &request.edits)?)
    })
    .await
}

pub(super) async fn delete_entity(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Entity>, ApiError> {
    state.authorize_write(&headers)?;
    write(state, &id, |local, id| Ok(local.delete(id)?)).await
}

pub(super) async fn link(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<LinkRequest>, JsonRejection>,
) -> Result<Json<Entity>, ApiError> {
    state.authorize_write(&headers)?;
    let request = json_body(body)?;
    write(state, &id, move |local, id| {
        Ok(local.link(id, request.relation, request.comment)?)
    })
    .await
}

pub(super) async fn unlink(
    State(state): Shared,
    headers: HeaderMap,
    Path((id, relation)): Path<(String, String)>,
) -> Result<Json<Entity>, ApiError> {
    state.authorize_write(&headers)?;
    let relation: Relation =
        relation
            .parse()
            .map_err(|error: crdt_model::schema::ValidationError| {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", error.to_string())
            })?;
    write(state, &id, move |local, id| Ok(local.unlink(id, relation)?)).await
}
