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
use crdt_model::communes::{self, Commune};
use crdt_model::document::{Entity, NewEntity, Relation};

use super::client::joined_status;
use super::error::{ApiError, ErrorBody, blocking, entity_id, json_body, query};
use super::openapi::{
    self, Forbidden, Internal, NotJoined, Unauthorized, UnknownEntity, Unprocessable,
    UnsupportedMediaType, WriteErrors,
};
use super::session::{COOKIE, PAIRING_LIFETIME};
use super::state::ApiState;
use super::stream;
use super::types::{
    EditRequest, ExportQuery, FollowRequest, Following, ImportRequest, Imported, LinkRequest,
    ListQuery, NetworkDown, NetworkState, NetworkStatus, NotJoinedStatus, PairQuery, Pairing,
    PostalCodeStatus, Session, Status,
};
use super::{MAX_IMPORT_ROWS, MAX_SEARCH_CHARS, MAX_SEARCH_RESULTS};
use crate::api::types::{EntityPath, LinkPath};
use crate::local::{Join, Local, LocalError};
use crate::net::{self, PeerStatus};
use crate::opendata::{Licence, export::Format};
use crate::store::HistoryEntry;

pub(super) type Shared = State<Arc<ApiState>>;

/// Who this node is and what it holds
///
/// Works before joining: `joined` says whether `POST /api/init` was done.
#[utoipa::path(get, path = "/api/status", operation_id = "getStatus", tag = "node",
    responses(
        (status = 200, description = "The node's status.", body = Status),
        (status = 500, response = Internal),
    ))]
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
            status.network = NetworkState::Not(NetworkDown::Stopped);
            status.network_error = Some(why);
        }
        Ok(Json(Status::Joined(Box::new(status))))
    })
    .await
}

/// A pairing link for the web map
///
/// A one-time link (usable for ten minutes) that lets the browser opening
/// it write through the web map: `communecter web` asks for one and opens
/// it. Only with the bearer token, and only on a node serving on loopback.
#[utoipa::path(post, path = "/api/pairings", operation_id = "createPairing", tag = "web",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The link.", body = Pairing),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Code `not_allowed`: the API is served beyond this \
            computer, where the web map only reads.", body = ErrorBody),
        (status = 500, response = Internal),
    ))]
pub(super) async fn create_pairing(
    State(state): Shared,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Pairing>), ApiError> {
    state.authorize_token(&headers)?;
    let url = state.pairing_link()?;
    Ok((
        StatusCode::CREATED,
        Json(Pairing {
            url,
            expires_in: PAIRING_LIFETIME.as_secs(),
        }),
    ))
}

/// Pair this browser
///
/// Opened from a pairing link: uses its code once and sets the session
/// cookie (`HttpOnly`, `SameSite=Strict`), then sends the browser to the
/// map. A code used already, expired or not this node's sends it to the
/// map unpaired, with `?pairing=expired`.
#[utoipa::path(get, path = "/api/pair", operation_id = "pair", tag = "web",
    params(PairQuery),
    responses(
        (status = 303, description = "To the map, paired (the `Set-Cookie` header carries the \
            session) or not (`Location: /?pairing=expired`).",
            headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 400, description = "Code `bad_request`: no `code`.", body = ErrorBody),
        (status = 500, response = Internal),
    ))]
pub(super) async fn pair(
    State(state): Shared,
    params: Result<Query<PairQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let response = match state.pair(&params.code)? {
        Some(secret) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/".to_owned()),
                (
                    header::SET_COOKIE,
                    format!("{COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/"),
                ),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
        )
            .into_response(),
        None => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/?pairing=expired".to_owned()),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
        )
            .into_response(),
    };
    Ok(response)
}

/// Whether this browser may write
///
/// `paired` when the request carries the session cookie of a pairing.
#[utoipa::path(get, path = "/api/session", operation_id = "getSession", tag = "web",
    responses((status = 200, description = "The browser's session.", body = Session)))]
pub(super) async fn session(State(state): Shared, headers: HeaderMap) -> Json<Session> {
    Json(Session {
        paired: state.paired(&headers),
        can_pair: state.web().loopback,
    })
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
        relays_learnt: network.relays_learnt.clone(),
    })
}

/// Connected peers
///
/// The peers the node is connected to, the postal codes it shares with
/// each, their gossip score and their last catch-up sync.
#[utoipa::path(get, path = "/api/peers", operation_id = "listPeers", tag = "network",
    responses(
        (status = 200, description = "The connected peers.", body = [PeerStatus]),
        (status = 409, description = "Code `offline`: the network is not running (it starts \
            once the node has joined).", body = ErrorBody),
        (status = 500, response = Internal),
    ))]
pub(super) async fn peers(State(state): Shared) -> Result<Json<Vec<PeerStatus>>, ApiError> {
    match state.network() {
        Some(client) => {
            let status = client
                .status()
                .await
                .map_err(|error| ApiError::internal(error.to_string()))?;
            Ok(Json(status.peers))
        }
        None => Err(offline()),
    }
}

/// The answer to a request for the network while it does not run.
pub(super) fn offline() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "offline",
        "this node's network is not running (it starts once the node has joined)",
    )
}

/// Follow another postal code
///
/// Keeps that postal code's directory on this node too: subscribes to its
/// topic and syncs it with peers. Following twice is harmless.
#[utoipa::path(post, path = "/api/follows", operation_id = "followPostalCode", tag = "network",
    security(("bearer" = [])),
    request_body = FollowRequest,
    responses(
        WriteErrors,
        (status = 200, description = "Followed.", body = Following),
        (status = 400, description = "Code `unknown_postal_code`: not a French postal code of \
            the communes table; code `bad_request`: the body is not JSON.", body = ErrorBody),
        (status = 409, description = "Code `not_joined`: this node has no identity yet; code \
            `too_many`: the node follows as many postal codes as it may.", body = ErrorBody),
        (status = 422, response = Unprocessable),
    ))]
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

/// Join: create this node's identity and the citizen's person profile
///
/// Creates the keys in the data directory, the store, and the citizen's
/// person entity in their commune. Once only: a node that has joined
/// answers 409 `already_joined`.
#[utoipa::path(post, path = "/api/init", operation_id = "init", tag = "node",
    security(("bearer" = [])),
    request_body(content = Join, examples(
        ("one commune" = (summary = "A postal code with one commune",
            value = json!({"postal_code": "97400", "name": "Marie Hoarau"}))),
        ("several communes" = (summary = "A postal code shared by several communes",
            value = json!({"postal_code": "01400", "insee": "01093"}))),
    )),
    responses(
        WriteErrors,
        (status = 201, description = "Joined; the citizen's person entity.", body = Entity,
            example = openapi::person),
        (status = 400, description = "Code `unknown_postal_code`: not a French postal code of \
            the communes table; code `choose_commune`: several communes share it and `insee` \
            is missing or not one of them; code `bad_request`: the body is not JSON.",
            body = ErrorBody),
        (status = 409, description = "Code `already_joined`: this node already has an identity.",
            body = ErrorBody),
        (status = 422, response = Unprocessable),
    ))]
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

/// The communes of a postal code or an INSEE code
///
/// Works before joining. A postal code gives all its communes (one, or
/// several to choose from with `insee` when joining); an INSEE code that
/// is not also a postal code gives its commune.
#[utoipa::path(get, path = "/api/communes/{query}", operation_id = "getCommunes", tag = "communes",
    params(("query" = String, Path, description = "A French postal code or INSEE code.",
        example = "97400")),
    responses(
        (status = 200, description = "The communes found, at least one.", body = [Commune]),
        (status = 404, description = "Code `unknown_postal_code`: neither a postal code nor an \
            INSEE code of the communes table.", body = ErrorBody),
    ))]
pub(super) async fn communes_of(
    Path(query): Path<String>,
) -> Result<Json<Vec<&'static Commune>>, ApiError> {
    let table = communes::table();
    let found: Vec<&Commune> = match table.by_insee(&query) {
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
    Ok(Json(found))
}

/// List entities
///
/// Entities matching every filter given, sorted by name (accents and case
/// ignored); entities marked deleted are left out, and unless
/// `hidden=true` those their community hid or a blocked author made. The
/// query parameters
/// `q` and `limit` of `/api/search` are accepted and ignored here; any
/// other parameter answers 400.
#[utoipa::path(get, path = "/api/entities", operation_id = "listEntities", tag = "entities",
    params(ListQuery),
    responses(
        (status = 200, description = "The entities.", body = [Entity]),
        (status = 400, description = "Code `bad_request`: an unknown query parameter or an \
            unknown kind.", body = ErrorBody),
        (status = 409, response = NotJoined),
        (status = 500, response = Internal),
    ))]
pub(super) async fn list(
    State(state): Shared,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let local = state.local()?;
    // The cached JSON of each entity goes out as it is stored, and as it
    // is read: a list of the whole directory is never held in memory.
    let body = stream::streamed(move |out| local.write_list_json(&params.filter(), out)).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Search entities
///
/// Entities whose name, category, tags, types, locality or descriptions
/// have words starting with every word of `q` (accents and case ignored),
/// optionally filtered; names containing `q` first, then by name. Entities
/// marked deleted are left out, and hidden ones as for the list.
#[utoipa::path(get, path = "/api/search", operation_id = "searchEntities", tag = "entities",
    params(ListQuery),
    responses(
        (status = 200, description = "The entities found, best first.", body = [Entity]),
        (status = 400, description = "Code `bad_request`: `q` missing or blank, an unknown \
            query parameter, an unknown kind or a limit that is not a number.",
            body = ErrorBody),
        (status = 409, response = NotJoined),
        (status = 500, response = Internal),
    ))]
pub(super) async fn search(
    State(state): Shared,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<Entity>>, ApiError> {
    let params = query(params)?;
    let text = search_text(&params)?;
    let limit = params.limit.unwrap_or(50).min(MAX_SEARCH_RESULTS);
    let local = state.local()?;
    blocking(move || Ok(Json(local.search(&text, &params.filter(), limit)?))).await
}

/// The words of `?q=`, checked.
fn search_text(params: &ListQuery) -> Result<String, ApiError> {
    let text = params.q.clone().unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "give the words to search for in ?q=",
        ));
    }
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("search for at most {MAX_SEARCH_CHARS} characters at a time"),
        ));
    }
    Ok(text)
}

/// Search entities, all their ids
///
/// The ids of every entity `/api/search` finds for `q`, however many, in
/// no particular order (`limit` is ignored): for a page that holds the
/// directory and filters it.
#[utoipa::path(get, path = "/api/search/ids", operation_id = "searchEntityIds", tag = "entities",
    params(ListQuery),
    responses(
        (status = 200, description = "The ids of the entities found.", body = [crdt_model::ids::EntityId]),
        (status = 400, description = "As for `/api/search`.", body = ErrorBody),
        (status = 409, response = NotJoined),
        (status = 500, response = Internal),
    ))]
pub(super) async fn search_ids(
    State(state): Shared,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<crdt_model::ids::EntityId>>, ApiError> {
    let params = query(params)?;
    let text = search_text(&params)?;
    let local = state.local()?;
    blocking(move || Ok(Json(local.search_ids(&text, &params.filter())?))).await
}

/// Export the directory as open data
///
/// The entities (deleted ones left out; people with their public fields
/// only) in the project's JSON ({meta, entities}), schema.org JSON-LD,
/// GeoJSON (entities placed on the map) or CSV (columns in
/// docs/USER-GUIDE.md), carrying the licence and the attribution. E-mails
/// never appear.
#[utoipa::path(get, path = "/api/export/{format}", operation_id = "exportDirectory",
    tag = "open data",
    params(("format" = Format, Path, description = "json, jsonld, geojson or csv."), ExportQuery),
    responses(
        (status = 200, description = "The export.", content(
            (Object = "application/json"),
            (Object = "application/ld+json"),
            (Object = "application/geo+json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "Code `bad_request`: unknown format, licence or query \
            parameter.", body = ErrorBody),
        (status = 409, response = NotJoined),
        (status = 500, response = Internal),
    ))]
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
    // Exports take turns, each for as long as its answer is being sent.
    let turn = state.export_turn().await;
    let body = stream::streamed(move |out| {
        let _turn = turn;
        local.export(format, &filter, licence, out).map(drop)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

/// Import a batch of rows of an open data file
///
/// Rows as read from a file by `communecter import` (at most 5,000 per
/// request, 16 MiB of JSON). Each row is checked on its own; rows naming
/// something already there (same name, same address or position) are
/// skipped; people are never imported. The new entities are signed by
/// this node's citizen and stored in one transaction.
#[utoipa::path(post, path = "/api/import", operation_id = "importRows", tag = "open data",
    security(("bearer" = [])),
    request_body = ImportRequest,
    responses(
        (status = 200, description = "What became of each row, in order.", body = Imported),
        (status = 400, description = "Code `bad_request`: the body is not a JSON object with \
            `rows`.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 409, response = NotJoined),
        (status = 413, description = "Code `too_large`: more than 5,000 rows, or a body larger \
            than 16 MiB.", body = ErrorBody),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
    ))]
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
        let outcomes = if body.dry_run {
            local.check_import(&body.rows)?
        } else {
            local.import(&body.rows)?
        };
        Ok(Json(Imported { outcomes }))
    })
    .await
}

/// Add an organization, project, event or place
#[utoipa::path(post, path = "/api/entities", operation_id = "createEntity", tag = "entities",
    security(("bearer" = [])),
    request_body(content = NewEntity, examples(
        ("organization" = (summary = "A garage in the citizen's commune", value = json!({
            "kind": "organization", "name": "Garage Payet", "edits": [
                {"set": ["organization_type", "local_business"]},
                {"set": ["category", "garage"]},
                {"set": ["address.street", "12 rue de Paris"]},
                {"add_tag": "mécanique"},
                {"set_geo": {"lat": -20.8789, "lon": 55.4481}}]}))),
        ("event" = (summary = "An event in another postal code", value = json!({
            "kind": "event", "name": "Concert au kiosque", "postal_code": "97410",
            "edits": [{"set": ["start", "2026-12-20T19:00"]}]}))),
    )),
    responses(
        WriteErrors,
        (status = 201, description = "Created; the new entity.", body = Entity,
            example = openapi::entity),
        (status = 400, description = "Code `invalid`: `kind` is `person`; code \
            `unknown_postal_code`: a French postal code that is not in the communes table; \
            code `bad_request`: the body is not JSON.", body = ErrorBody),
        (status = 403, response = Forbidden),
        (status = 409, response = NotJoined),
        (status = 422, response = Unprocessable),
    ))]
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

/// One entity
///
/// Entities marked deleted are shown too (with `deleted: true`).
#[utoipa::path(get, path = "/api/entities/{id}", operation_id = "getEntity", tag = "entities",
    params(EntityPath),
    responses(
        (status = 200, description = "The entity.", body = Entity, example = openapi::entity),
        (status = 400, description = "Code `bad_id`: not an entity id.", body = ErrorBody),
        (status = 404, response = UnknownEntity),
        (status = 409, response = NotJoined),
        (status = 500, response = Internal),
    ))]
pub(super) async fn show(
    State(state): Shared,
    Path(EntityPath { id }): Path<EntityPath>,
) -> Result<Json<Entity>, ApiError> {
    let id = entity_id(&id)?;
    let local = state.local()?;
    blocking(move || Ok(Json(local.entity(id)?))).await
}

/// The changes of an entity
///
/// Every change of the entity's document, in causal order.
#[utoipa::path(get, path = "/api/entities/{id}/history", operation_id = "getEntityHistory",
    tag = "entities",
    params(EntityPath),
    responses(
        (status = 200, description = "The changes, oldest first.", body = [HistoryEntry]),
        (status = 400, description = "Code `bad_id`: not an entity id.", body = ErrorBody),
        (status = 404, response = UnknownEntity),
        (status = 409, response = NotJoined),
        (status = 500, response = Internal),
    ))]
pub(super) async fn history(
    State(state): Shared,
    Path(EntityPath { id }): Path<EntityPath>,
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

/// Edit an entity
///
/// Applies the edits together as one change signed by the citizen, checked
/// like a change from a peer.
#[utoipa::path(patch, path = "/api/entities/{id}", operation_id = "editEntity", tag = "entities",
    security(("bearer" = [])),
    params(EntityPath),
    request_body(content = EditRequest, examples(
        ("fields" = (summary = "Set a field, add a tag, place on the map", value = json!({
            "edits": [{"set": ["telephone", "0262 00 00 00"]}, {"add_tag": "pneus"},
                {"set_geo": {"lat": -20.8789, "lon": 55.4481}}]}))),
        ("restore" = (summary = "Restore a deleted entity (admins)",
            value = json!({"edits": [{"set_deleted": false}]}))),
    )),
    responses(
        WriteErrors,
        (status = 200, description = "Edited; the entity as stored.", body = Entity),
        (status = 400, description = "Code `bad_id`: not an entity id; code `bad_request`: the \
            body is not JSON.", body = ErrorBody),
        (status = 403, response = Forbidden),
        (status = 404, response = UnknownEntity),
        (status = 409, response = NotJoined),
        (status = 422, response = Unprocessable),
    ))]
pub(super) async fn edit(
    State(state): Shared,
    headers: HeaderMap,
    Path(EntityPath { id }): Path<EntityPath>,
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

/// Mark an entity deleted
///
/// Admins only. The entity is hidden from lists and search but kept with
/// its history; `PATCH` with `{"set_deleted": false}` restores it.
#[utoipa::path(delete, path = "/api/entities/{id}", operation_id = "deleteEntity",
    tag = "entities",
    security(("bearer" = [])),
    params(EntityPath),
    responses(
        (status = 200, description = "Marked deleted; the entity as stored (`deleted: true`).",
            body = Entity),
        (status = 400, description = "Code `bad_id`: not an entity id.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Code `not_allowed`: the citizen is not an admin of the \
            entity; code `refused`: the store refused the change.", body = ErrorBody),
        (status = 404, response = UnknownEntity),
        (status = 409, response = NotJoined),
        (status = 500, response = Internal),
    ))]
pub(super) async fn delete_entity(
    State(state): Shared,
    headers: HeaderMap,
    Path(EntityPath { id }): Path<EntityPath>,
) -> Result<Json<Entity>, ApiError> {
    state.authorize_write(&headers)?;
    write(state, &id, |local, id| Ok(local.delete(id)?)).await
}

/// Link the citizen to an entity
///
/// Writes the citizen's own link (member, contributor, attendee, follows)
/// or recommendation into the entity, with their person entity. Writing it
/// again replaces it. A `member` link waits for an admin's confirmation.
/// Others' person profiles only accept `follows`.
#[utoipa::path(post, path = "/api/entities/{id}/links", operation_id = "addLink", tag = "links",
    security(("bearer" = [])),
    params(EntityPath),
    request_body(content = LinkRequest, examples(
        ("recommend" = (value = json!({"relation": "recommends", "comment": "Travail sérieux"}))),
        ("member" = (value = json!({"relation": "member"}))),
    )),
    responses(
        WriteErrors,
        (status = 200, description = "Linked; the entity as stored.", body = Entity,
            example = openapi::entity),
        (status = 400, description = "Code `bad_id`: not an entity id; code `bad_request`: the \
            body is not JSON.", body = ErrorBody),
        (status = 403, description = "Code `not_allowed`: this link may not be written (a \
            person profile only accepts `follows` from others); code `refused`: the store \
            refused the change.", body = ErrorBody),
        (status = 404, response = UnknownEntity),
        (status = 409, response = NotJoined),
        (status = 422, description = "Code `invalid`: the comment is too long; code \
            `bad_request`: missing or unknown member, unknown relation.", body = ErrorBody),
    ))]
pub(super) async fn link(
    State(state): Shared,
    headers: HeaderMap,
    Path(EntityPath { id }): Path<EntityPath>,
    body: Result<Json<LinkRequest>, JsonRejection>,
) -> Result<Json<Entity>, ApiError> {
    state.authorize_write(&headers)?;
    let request = json_body(body)?;
    write(state, &id, move |local, id| {
        Ok(local.link(id, request.relation, request.comment)?)
    })
    .await
}

/// Withdraw one of the citizen's links
#[utoipa::path(delete, path = "/api/entities/{id}/links/{relation}", operation_id = "removeLink",
    tag = "links",
    security(("bearer" = [])),
    params(LinkPath),
    responses(
        (status = 200, description = "Unlinked; the entity as stored.", body = Entity),
        (status = 400, description = "Code `bad_request`: not a relation; code `bad_id`: not an \
            entity id.", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = UnknownEntity),
        (status = 409, response = NotJoined),
        (status = 422, description = "Code `invalid`: the edit would change nothing.",
            body = ErrorBody),
        (status = 500, response = Internal),
    ))]
pub(super) async fn unlink(
    State(state): Shared,
    headers: HeaderMap,
    Path(LinkPath { id, relation }): Path<LinkPath>,
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
