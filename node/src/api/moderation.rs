//! The routes of moderation: reporting an entity, where it stands, the
//! queue of a postal code, and opening a moderation proposal by hand.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;

use super::error::{ApiError, ErrorBody, blocking, entity_id, json_body, query};
use super::handlers::Shared;
use super::openapi::{Internal, NotJoined, UnknownEntity, WriteErrors};
use super::types::{EntityPath, ModerateRequest, ModerationQuery, ReportRequest};
use crate::local::ModerationReport;

/// Where an entity stands in moderation
///
/// Whether it is hidden or flagged, the reports that count and those a
/// refusal or a restoring cleared, the proposal being voted on in its
/// postal code's moderation room, and what each moderation proposal about
/// it did.
#[utoipa::path(get, path = "/api/entities/{id}/moderation", operation_id = "getModeration",
    tag = "moderation",
    params(EntityPath),
    responses(
        (status = 200, description = "Where it stands.", body = ModerationReport),
        (status = 400, description = "Code `bad_id`: not an entity id.", body = ErrorBody),
        (status = 404, response = UnknownEntity),
        (status = 409, response = NotJoined),
        (status = 500, response = Internal),
    ))]
pub(super) async fn moderation(
    State(state): Shared,
    Path(EntityPath { id }): Path<EntityPath>,
) -> Result<Json<ModerationReport>, ApiError> {
    let id = entity_id(&id)?;
    let local = state.local()?;
    blocking(move || Ok(Json(local.moderation(id)?))).await
}

/// The moderation queue
///
/// The entities flagged (three reports or more), being voted on, or
/// hidden, in one postal code or every one the node holds; flagged and
/// open first.
#[utoipa::path(get, path = "/api/moderation", operation_id = "listModeration",
    tag = "moderation",
    params(ModerationQuery),
    responses(
        (status = 200, description = "The queue.", body = [ModerationReport]),
        (status = 400, description = "Code `bad_request`: a query that is not understood.",
            body = ErrorBody),
        (status = 409, response = NotJoined),
        (status = 500, response = Internal),
    ))]
pub(super) async fn queue(
    State(state): Shared,
    asked: Result<Query<ModerationQuery>, QueryRejection>,
) -> Result<Json<Vec<ModerationReport>>, ApiError> {
    let asked = query(asked)?;
    let local = state.local()?;
    blocking(move || Ok(Json(local.moderation_queue(asked.postal_code.as_deref())?))).await
}

/// Report an entity
///
/// The citizen's report, in their own slot (a second one replaces the
/// first). A report that flags the entity opens the moderation proposal
/// in its postal code's moderation room, when it has one and no vote is
/// open: `opened` names it. Answers where the entity stands.
#[utoipa::path(post, path = "/api/entities/{id}/report", operation_id = "reportEntity",
    tag = "moderation",
    security(("bearer" = [])),
    params(EntityPath),
    request_body = ReportRequest,
    responses(
        WriteErrors,
        (status = 200, description = "Reported; where the entity stands.",
            body = ModerationReport),
        (status = 400, description = "Code `bad_id` or `bad_request`.", body = ErrorBody),
        (status = 404, response = UnknownEntity),
        (status = 409, response = NotJoined),
        (status = 422, description = "Code `invalid`: an empty or too long reason.",
            body = ErrorBody),
    ))]
pub(super) async fn report(
    State(state): Shared,
    headers: HeaderMap,
    Path(EntityPath { id }): Path<EntityPath>,
    body: Result<Json<ReportRequest>, JsonRejection>,
) -> Result<Json<ModerationReport>, ApiError> {
    state.authorize_write(&headers)?;
    let id = entity_id(&id)?;
    let request = json_body(body)?;
    let local = state.local()?;
    blocking(move || Ok(Json(local.report_entity(id, Some(request.reason))?))).await
}

/// Withdraw a report
///
/// Removes the citizen's report. Answers where the entity stands.
#[utoipa::path(delete, path = "/api/entities/{id}/report", operation_id = "withdrawReport",
    tag = "moderation",
    security(("bearer" = [])),
    params(EntityPath),
    responses(
        WriteErrors,
        (status = 200, description = "Withdrawn; where the entity stands.",
            body = ModerationReport),
        (status = 400, description = "Code `bad_id`: not an entity id.", body = ErrorBody),
        (status = 404, response = UnknownEntity),
        (status = 409, response = NotJoined),
    ))]
pub(super) async fn withdraw(
    State(state): Shared,
    headers: HeaderMap,
    Path(EntityPath { id }): Path<EntityPath>,
) -> Result<Json<ModerationReport>, ApiError> {
    state.authorize_write(&headers)?;
    let id = entity_id(&id)?;
    let local = state.local()?;
    blocking(move || Ok(Json(local.report_entity(id, None)?))).await
}

/// Open a moderation proposal
///
/// In the citizen's name, in the postal code's moderation room: to hide
/// the entity (anyone may open it; it is what a flagging report does on
/// its own) or to show a hidden one again (for those who take part in
/// the room). Yes or no, 75 % of the expressed votes, declared for 48
/// hours. Answers where the entity stands, `opened` naming the proposal.
#[utoipa::path(post, path = "/api/entities/{id}/moderation", operation_id = "moderate",
    tag = "moderation",
    security(("bearer" = [])),
    params(EntityPath),
    request_body = ModerateRequest,
    responses(
        WriteErrors,
        (status = 200, description = "Opened; where the entity stands.",
            body = ModerationReport),
        (status = 400, description = "Code `bad_id` or `bad_request`.", body = ErrorBody),
        (status = 403, description = "Code `not_allowed`: restoring, for someone who takes \
            no part in the moderation room.", body = ErrorBody),
        (status = 404, response = UnknownEntity),
        (status = 409, description = "Code `no_moderation_room`: the postal code has none; \
            code `not_due`: a vote is open, or it would change nothing; code `not_joined`.",
            body = ErrorBody),
    ))]
pub(super) async fn moderate(
    State(state): Shared,
    headers: HeaderMap,
    Path(EntityPath { id }): Path<EntityPath>,
    body: Result<Json<ModerateRequest>, JsonRejection>,
) -> Result<Json<ModerationReport>, ApiError> {
    state.authorize_write(&headers)?;
    let id = entity_id(&id)?;
    let request = json_body(body)?;
    let local = state.local()?;
    blocking(move || Ok(Json(local.moderate(id, request.asks)?))).await
}
