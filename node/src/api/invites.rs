//! Invites: `GET /api/invite` gives a code carrying this node's addresses
//! and postal code (`GET /api/invite/qr` the same as a QR code); `POST
//! /api/join` takes another's, remembers its node and dials it.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use libp2p::Multiaddr;

use super::error::{ApiError, ErrorBody, blocking, json_body};
use super::handlers::{Shared, offline};
use super::openapi::{Internal, NotJoined, WriteErrors};
use super::types::{InviteCode, JoinInvite, Joined};
use crate::net::invite::Invite;
use crate::net::relays::{reachable, without_peer};

/// An invite to this node
///
/// A code that another citizen gives `communecter join` (or pastes in the
/// web map) so that their node meets this one: this node's peer id, the
/// addresses it listens on that another computer may reach, and the
/// citizen's postal code.
#[utoipa::path(get, path = "/api/invite", operation_id = "invite", tag = "network",
    responses(
        (status = 200, description = "The code and what it says.", body = InviteCode),
        (status = 409, description = "Code `not_joined`: this node has no identity yet; code \
            `offline`: its network is not running; code `unreachable`: it listens on no \
            address another computer may reach (loopback only).", body = ErrorBody),
        (status = 500, response = Internal),
    ))]
pub(super) async fn invite(State(state): Shared) -> Result<Json<InviteCode>, ApiError> {
    let invite = this_invite(&state).await?;
    Ok(Json(InviteCode {
        code: invite.encode(),
        invite,
    }))
}

/// An invite to this node, as a QR code
///
/// The code of `GET /api/invite` as an SVG image, for a neighbour's phone
/// to scan: upper case, which QR codes hold in fewer modules (the code
/// ignores case).
#[utoipa::path(get, path = "/api/invite/qr", operation_id = "inviteQr", tag = "network",
    responses(
        (status = 200, description = "The QR code.", content_type = "image/svg+xml", body = String),
        (status = 409, description = "As for `GET /api/invite`.", body = ErrorBody),
        (status = 500, response = Internal),
    ))]
pub(super) async fn invite_qr(State(state): Shared) -> Result<Response, ApiError> {
    let invite = this_invite(&state).await?;
    let svg = crate::net::invite::qr_svg(&invite.encode()).map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}

/// The invite to this node: its reachable listen addresses and the
/// citizen's postal code.
async fn this_invite(state: &super::state::ApiState) -> Result<Invite, ApiError> {
    let local = state.local()?;
    let Some(client) = state.network() else {
        return Err(offline());
    };
    let status = client
        .status()
        .await
        .map_err(|error| ApiError::internal(error.to_string()))?;
    let peer = status
        .peer_id
        .parse()
        .map_err(|_| ApiError::internal("the node's peer id does not read"))?;
    let mut addresses: Vec<Multiaddr> = Vec::new();
    for address in status
        .listen
        .iter()
        .filter_map(|a| a.parse::<Multiaddr>().ok())
    {
        // Without the peer id, which the code carries once.
        let address = without_peer(&address);
        if reachable(&address) && !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    if addresses.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "unreachable",
            "this node listens on no address another computer can reach (only loopback): start it with `--listen /ip4/0.0.0.0/tcp/4001`",
        ));
    }
    Ok(Invite::new(&local.profile.postal_key(), peer, &addresses))
}

/// Meet the node of an invite
///
/// Reads the code, remembers the inviting node (dialled again at every
/// start, as the peers met are) and, when the network runs, dials it now.
#[utoipa::path(post, path = "/api/join", operation_id = "join", tag = "network",
    security(("bearer" = [])),
    request_body = JoinInvite,
    responses(
        WriteErrors,
        (status = 200, description = "Remembered, and dialled if the network runs.", body = Joined),
        (status = 409, response = NotJoined),
        (status = 422, description = "Code `bad_invite`: the code is not an invite, is \
            mistyped or is cut short.", body = ErrorBody),
        (status = 500, response = Internal),
    ))]
pub(super) async fn join(
    State(state): Shared,
    headers: HeaderMap,
    body: Result<Json<JoinInvite>, JsonRejection>,
) -> Result<Json<Joined>, ApiError> {
    state.authorize_write(&headers)?;
    let request = json_body(body)?;
    let invite = Invite::decode(&request.code).map_err(|error| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_invite",
            error.to_string(),
        )
    })?;
    let local = state.local()?;
    let remembered = invite.clone();
    blocking(move || Ok(local.accept_invite(&remembered)?)).await?;
    let mut dialled = false;
    if let Some(client) = state.network() {
        for address in invite.dial_addresses() {
            dialled |= client.dial(address).await.is_ok();
        }
    }
    Ok(Json(Joined { invite, dialled }))
}
