//! The routes of a room's decisions: making one, and reading a proposal's
//! tally.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody, blocking, entity_id, json_body, query};
use super::handlers::Shared;
use super::openapi::{Internal, NotJoined, UnknownEntity, WriteErrors};
use super::types::{DecisionRequest, EntityPath, TallyQuery};
use crate::local::TallyReport;

/// The proposal named in a route's path, `/api/proposals/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct ProposalPath {
    /// The proposal id: its proposer's key, a dot and 16 hex digits.
    pub id: String,
}

/// The author named in a route's path, `/api/blocks/{author}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct AuthorPath {
    /// An author key (64 hex digits).
    pub author: String,
}

/// Blocks or unblocks the author `text` names, for a request whose token
/// is checked here.
async fn set_blocked(
    state: std::sync::Arc<super::state::ApiState>,
    headers: &HeaderMap,
    text: &str,
    block: bool,
) -> Result<Json<Vec<String>>, ApiError> {
    state.authorize_write(headers)?;
    let author: crdt_model::ids::AuthorKey = text.parse().map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{text:?} is not an author key (64 hex digits)"),
        )
    })?;
    let local = state.local()?;
    blocking(move || Ok(Json(local.block(&author, block)?))).await
}

/// Block an author
///
/// For this citizen only: from now on the author's changes are neither
/// stored nor forwarded by this node (not held against the peers that
/// send them). Answers the authors blocked.
#[utoipa::path(post, path = "/api/blocks/{author}", operation_id = "blockAuthor", tag = "decisions",
    security(("bearer" = [])),
    params(AuthorPath),
    responses(
        WriteErrors,
        (status = 200, description = "Blocked; the authors blocked.", body = [String]),
        (status = 400, description = "Code `bad_request`: not an author key.", body = ErrorBody),
        (status = 409, response = NotJoined),
        (status = 422, description = "Code `invalid`: one's own key.", body = ErrorBody),
    ))]
pub(super) async fn block(
    State(state): Shared,
    headers: HeaderMap,
    Path(AuthorPath { author }): Path<AuthorPath>,
) -> Result<Json<Vec<String>>, ApiError> {
    set_blocked(state, &headers, &author, true).await
}

/// Unblock an author
///
/// Their changes are stored and forwarded again from now on (those sent
/// while blocked come back by sync). Answers the authors blocked.
#[utoipa::path(delete, path = "/api/blocks/{author}", operation_id = "unblockAuthor",
    tag = "decisions",
    security(("bearer" = [])),
    params(AuthorPath),
    responses(
        WriteErrors,
        (status = 200, description = "Unblocked; the authors blocked.", body = [String]),
        (status = 400, description = "Code `bad_request`: not an author key.", body = ErrorBody),
        (status = 409, response = NotJoined),
    ))]
pub(super) async fn unblock(
    State(state): Shared,
    headers: HeaderMap,
    Path(AuthorPath { author }): Path<AuthorPath>,
) -> Result<Json<Vec<String>>, ApiError> {
    set_blocked(state, &headers, &author, false).await
}

/// The proposals of a room
///
/// Newest first, each with where it stands (`phase`: amending, folding,
/// voting, closed), its choices, rules, declared ends and amendments.
#[utoipa::path(get, path = "/api/rooms/{id}/proposals", operation_id = "listProposals",
    tag = "decisions",
    params(EntityPath),
    responses(
        (status = 200, description = "The room's proposals.", body = RoomProposals),
        (status = 400, description = "Code `bad_id`: not an entity id.", body = ErrorBody),
        (status = 404, response = UnknownEntity),
        (status = 409, response = NotJoined),
        (status = 422, description = "Code `not_a_room`.", body = ErrorBody),
        (status = 500, response = Internal),
    ))]
pub(super) async fn proposals(
    State(state): Shared,
    Path(EntityPath { id }): Path<EntityPath>,
) -> Result<Json<RoomProposals>, ApiError> {
    let room = entity_id(&id)?;
    let local = state.local()?;
    blocking(move || {
        Ok(Json(RoomProposals {
            room,
            proposals: local.proposals(room)?,
        }))
    })
    .await
}

/// A room's proposals.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub(super) struct RoomProposals {
    /// The room.
    #[schema(value_type = String)]
    room: crdt_model::ids::EntityId,
    /// Its proposals, newest first (see the protocol, section 4.1).
    #[schema(value_type = Vec<Object>)]
    proposals: Vec<crdt_model::decide::Proposal>,
}

/// Make a decision in a room
///
/// Proposes, amends, rewords, opens the vote, votes or closes, in the
/// citizen's name, as one change checked by the room's rules (its phase,
/// who takes part, one vote each unless votes may change, closings by an
/// admin or after the declared end). Answers the proposal's tally.
#[utoipa::path(post, path = "/api/decisions", operation_id = "decide", tag = "decisions",
    security(("bearer" = [])),
    request_body(content = DecisionRequest, examples(
        ("propose" = (value = json!({"room": "aigfjguydgfehzvq4y5dq366ze", "decision": {"propose": {
            "proposal": {"title": "Jardin le dimanche", "text": "Ouvrir le jardin partagé le dimanche."}}}}))),
        ("vote" = (value = json!({"decision": {"vote": {
            "proposal": "<proposer key>.0123456789abcdef", "choice": "yes"}}}))),
    )),
    responses(
        WriteErrors,
        (status = 200, description = "Done; the proposal's tally (`made`: the id of the new \
            proposal or amendment).", body = TallyReport),
        (status = 400, description = "Code `bad_request`: the body is not a decision.",
            body = ErrorBody),
        (status = 403, description = "Code `not_allowed`: the room's rules refuse it (the \
            message says which: not in this phase, not taking part, voted already, too early \
            to close…).", body = ErrorBody),
        (status = 404, description = "Code `unknown_proposal` or `unknown_entity`.",
            body = ErrorBody),
        (status = 409, response = NotJoined),
        (status = 422, description = "Code `invalid`: a title, text or choice that is not \
            valid; code `not_a_room`.", body = ErrorBody),
    ))]
pub(super) async fn decide(
    State(state): Shared,
    headers: HeaderMap,
    body: Result<Json<DecisionRequest>, JsonRejection>,
) -> Result<Json<TallyReport>, ApiError> {
    state.authorize_write(&headers)?;
    let request = json_body(body)?;
    let local = state.local()?;
    blocking(move || Ok(Json(local.decide(request.room, &request.decision)?))).await
}

/// A proposal's tally
///
/// Where the proposal stands, the closing that counts (the lowest change
/// hash among concurrent ones), each vote counted, those left out and why,
/// the counts and the outcome. With `verify=true`, recomputed from the
/// room's signed changes, each verified again.
#[utoipa::path(get, path = "/api/proposals/{id}", operation_id = "getTally", tag = "decisions",
    params(ProposalPath, TallyQuery),
    responses(
        (status = 200, description = "The tally.", body = TallyReport),
        (status = 400, description = "Code `bad_request`: a query that is not understood.",
            body = ErrorBody),
        (status = 404, description = "Code `unknown_proposal`.", body = ErrorBody),
        (status = 409, response = NotJoined),
        (status = 500, response = Internal),
    ))]
pub(super) async fn tally(
    State(state): Shared,
    Path(ProposalPath { id }): Path<ProposalPath>,
    asked: Result<Query<TallyQuery>, QueryRejection>,
) -> Result<Json<TallyReport>, ApiError> {
    let asked = query(asked)?;
    let local = state.local()?;
    blocking(move || Ok(Json(local.tally(&id, asked.verify)?))).await
}
