//! Errors of the local API, `{"error": {"code", "message"}}` with a 4xx
//! status (5xx only for a failing disk), and the checks every handler
//! shares: JSON bodies, query strings, ids.

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crdt_model::authz::Reject;
use crdt_model::document::EditError;
use crdt_model::ids::EntityId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::identity::IdentityError;
use crate::local::LocalError;
use crate::opendata::export::ExportError;
use crate::store::StoreError;

/// Every error answer: `{"error": {"code", "message"}}`. The message says
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, in an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `bad_id`,
    /// `unknown_postal_code`, `choose_commune`, `invalid`, `unauthorized`,
    /// `forbidden`, `cross_site`, `not_allowed`, `refused`, `unknown_entity`, `not_found`,
    /// `not_joined`, `already_joined`, `offline`, `too_many`, `too_large`, `busy`, `timeout`, `damaged`, `disk_full`
    /// or `internal`.
    #[schema(examples("unknown_entity"))]
    pub code: String,
    /// For people: what went wrong and what to do.
    pub message: String,
    /// With `invalid`, when the value's rules say why: a stable name
    /// (`empty`, `too_long`, `url`, `date`, `end_before_start`,
    /// `too_many_tags`, `position_outside_commune`…), for a client to say
    /// it in its own language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(examples("end_before_start"))]
    pub reason: Option<String>,
    /// With `reason`, the field it is about, when there is one
    /// (`name`, `url`, `end`, `tags`, `geo`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(examples("end"))]
    pub field: Option<String>,
}

/// An error answered as an [`ErrorBody`].
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Why a value was refused, and its field (`ErrorDetail::reason`).
    reason: Option<(&'static str, Option<String>)>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            reason: None,
        }
    }

    pub(super) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(
                code = self.code,
                message = self.message,
                "API request failed"
            );
        } else {
            tracing::debug!(
                status = self.status.as_u16(),
                code = self.code,
                "API request refused"
            );
        }
        // What failed inside (a store's, a disk's, a library's words) is
        // for the node's log, not for whoever asked.
        let message = if self.code == "internal" {
            INTERNAL_MESSAGE.to_owned()
        } else {
            self.message
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message,
                reason: self.reason.as_ref().map(|(reason, _)| (*reason).to_owned()),
                field: self.reason.and_then(|(_, field)| field),
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// The message of every `internal` error answer; the node's log has the
/// details.
pub(crate) const INTERNAL_MESSAGE: &str =
    "the node could not carry this out: its store or its disk failed (the node's log says how)";

impl From<LocalError> for ApiError {
    fn from(error: LocalError) -> Self {
        // An export that could not read its entities failed as a read.
        let error = match error {
            LocalError::Export(ExportError::Store(store)) => LocalError::Store(store),
            other => other,
        };
        let message = error.to_string();
        let invalid = match &error {
            LocalError::Edit(
                EditError::Invalid(invalid)
                | EditError::NotAllowed(Reject::Invalid { error: invalid, .. }),
            ) => Some((invalid.reason(), invalid.field().map(str::to_owned))),
            LocalError::PositionOutside(_) => {
                Some(("position_outside_commune", Some("geo".into())))
            }
            LocalError::Edit(EditError::NotAllowed(Reject::Decision { error, .. })) => {
                Some((error.reason(), None))
            }
            _ => None,
        };
        let (status, code) = match &error {
            LocalError::UnknownEntity(_) => (StatusCode::NOT_FOUND, "unknown_entity"),
            LocalError::UnknownProposal(_) => (StatusCode::NOT_FOUND, "unknown_proposal"),
            LocalError::BlockSelf => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            LocalError::NoRoom | LocalError::NotARoom(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "not_a_room")
            }
            LocalError::NoModerationRoom(_) => (StatusCode::CONFLICT, "no_moderation_room"),
            LocalError::NotDue { .. } => (StatusCode::CONFLICT, "not_due"),
            LocalError::BadId(_) => (StatusCode::BAD_REQUEST, "bad_id"),
            LocalError::UnknownPostalCode(_) => (StatusCode::BAD_REQUEST, "unknown_postal_code"),
            LocalError::AmbiguousPostalCode { .. } | LocalError::WrongInsee { .. } => {
                (StatusCode::BAD_REQUEST, "choose_commune")
            }
            LocalError::PersonByAdd | LocalError::RelayByAdd => {
                (StatusCode::BAD_REQUEST, "invalid")
            }
            LocalError::Edit(EditError::Invalid(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            }
            // A value the rules refuse (too many tags…) is a validation
            // error, not a question of who may write.
            LocalError::Edit(EditError::NotAllowed(Reject::Invalid { .. })) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            }
            LocalError::Edit(EditError::NotAllowed(_)) => (StatusCode::FORBIDDEN, "not_allowed"),
            LocalError::Edit(_) | LocalError::PositionOutside(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            }
            LocalError::Identity(IdentityError::AlreadyInitialized(_)) => {
                (StatusCode::CONFLICT, "already_joined")
            }
            LocalError::Refused(_) => (StatusCode::FORBIDDEN, "refused"),
            LocalError::Envelope(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            LocalError::TooManyFollows(_) => (StatusCode::CONFLICT, "too_many"),
            LocalError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            // Its message says what to run: it names no inner detail.
            LocalError::Store(StoreError::Damaged { .. }) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "damaged")
            }
            LocalError::Store(StoreError::NoSpace) => {
                (StatusCode::INSUFFICIENT_STORAGE, "disk_full")
            }
            LocalError::Identity(_)
            | LocalError::Write(_)
            | LocalError::Store(_)
            | LocalError::Profile(_)
            | LocalError::Export(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self {
            reason: invalid,
            ..Self::new(status, code, message)
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        LocalError::from(error).into()
    }
}

pub(super) fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
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

pub(super) fn query<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    params.map(|Query(value)| value).map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            rejection.body_text(),
        )
    })
}

pub(super) fn entity_id(text: &str) -> Result<EntityId, ApiError> {
    text.parse()
        .map_err(|error: crdt_model::ids::IdError| LocalError::BadId(error).into())
}

/// Runs blocking store work off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::internal(format!("task failed: {error}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_errors_answer_without_their_inner_text() {
        let response =
            ApiError::internal("redb: page 7 failed its checksum at /home/anne").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body.error.code, "internal");
        assert_eq!(body.error.message, INTERNAL_MESSAGE);
        let refused =
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "no ?q=").into_response();
        let bytes = axum::body::to_bytes(refused.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&bytes).contains("no ?q="));
    }
}
