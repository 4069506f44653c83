//! The OpenAPI 3.1 document of the local API, generated: each handler
//! describes its route (`#[utoipa::path]`, next to the handler), the
//! request and answer types derive their schemas, and the router that
//! serves the routes is built from the same declarations
//! ([`super::router`]), so the document cannot list a route the router
//! lacks, nor miss one. What is here is what no single route owns: the
//! document's header, the bearer token, the error answers many routes
//! share, and the example entities.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder, example::ExampleBuilder, response};

use utoipa::{IntoResponses, Modify, OpenApi, ToResponse, ToSchema};

use super::error::ErrorBody;
use crate::opendata::Licence;
use crate::opendata::export::Format;

/// The document's header and shared components; the paths come from the
/// router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Communecter local API",
        version = "1",
        description = "The HTTP API of a Communecter node (`communecter node`). It listens on \
`127.0.0.1:7878` by default and is for this computer only: the programs of the person using \
this computer talk to their own node through it.

Everything is JSON. Reads are open to local programs; writes (`POST`, `PATCH`, `DELETE`) need \
`Authorization: Bearer <token>`, with the token from the `api.token` file of the data directory \
(readable by its owner only, new at every start of the node). Request bodies are limited to \
64 KiB.

Errors are `{\"error\": {\"code\", \"message\"}}` with a 4xx status; 500 (code `internal`, or \
`damaged`) only when the store or the disk fails, 507 (`disk_full`) when the disk is full. An unknown path answers 404 with code `not_found`; a known \
path with a method it does not have answers 405.

Until the citizen has joined, only `GET /api/status`, `GET /api/communes/{query}`, this document \
and `POST /api/init` itself work; the other endpoints answer 409 `not_joined`."
    ),
    servers((url = "http://127.0.0.1:7878", description = "The node's default address")),
    tags(
        (name = "node", description = "The node itself: status, joining, this document."),
        (name = "communes", description = "The table of French communes built into the node."),
        (name = "entities", description = "People, organizations, projects, events and places."),
        (name = "links", description = "The citizen's own links to entities."),
        (name = "decisions", description = "Proposals, amendments, votes and closings in rooms, \
            and their tallies."),
        (name = "moderation", description = "Reports, the moderation queue, and the \
            community's decisions to hide or restore an entity."),
        (name = "network", description = "Peers and followed postal codes."),
        (name = "open data", description = "The directory out as open data files, and files in."),
        (name = "web", description = "What the web map listens to."),
    ),
    // Schemas that only parameters name (the others come with the routes'
    // bodies).
    components(schemas(Format, Licence), responses(
        BadRequest,
        Unauthorized,
        Forbidden,
        UnknownEntity,
        CrossSite,
        Timeout,
        NotJoined,
        TooLarge,
        UnsupportedMediaType,
        Unprocessable,
        Internal,
        DiskFull
    )),
    modifiers(&Bearer)
)]
pub(super) struct ApiDoc;

/// The `bearer` security scheme the write operations name.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_default();
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The token in the `api.token` file of the data directory.",
                    ))
                    .build(),
            ),
        );
    }
}

/// An error answer as the API writes it.
pub(super) fn error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// An error response: `description`, the [`ErrorBody`] schema and named
/// examples `(name, code, message)`.
fn error_response(description: &str, examples: &[(&str, &str, &str)]) -> RefOr<response::Response> {
    let mut content = ContentBuilder::new().schema(Some(RefOr::Ref(
        utoipa::openapi::Ref::from_schema_name(ErrorBody::name()),
    )));
    for (name, code, message) in examples {
        content = content.examples_from_iter([(
            *name,
            ExampleBuilder::new().value(Some(error(code, message))),
        )]);
    }
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content.build())
        .build()
        .into()
}

/// Declares error responses shared by many routes, each a component a
/// route names with `response = Name`.
macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident: $description:expr, [$($example:expr),* $(,)?];)*) => {$(
        $(#[$doc])*
        pub(super) struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<response::Response>) {
                (stringify!($name), error_response($description, &[$($example),*]))
            }
        }
    )*};
}

error_responses! {
    /// 400: a malformed request.
    BadRequest: "The request is malformed: `bad_request` (body that is not JSON, unknown query \
        parameter…), `bad_id` (not an entity id), `unknown_postal_code`, `choose_commune` (the \
        postal code has several communes: give `insee`) or `invalid`. The message says what to fix.",
        [
            ("bad_request_json", "bad_request", "Failed to parse the request body as JSON: EOF while parsing an object at line 1 column 1"),
            ("bad_id", "bad_id", "an entity id has 26 characters, this one has 5"),
        ];
    /// 401: no token, or a wrong one.
    Unauthorized: "Code `unauthorized`: the `Authorization: Bearer <token>` header is missing or \
        wrong. The token is in the `api.token` file of the data directory.",
        [("unauthorized", "unauthorized", "writes need the header `Authorization: Bearer <token>`, with the token from the data directory's api.token file")];
    /// 403: not the citizen's to change.
    Forbidden: "Code `not_allowed`: the citizen may not make this change (admins only, entity \
        closed to edition, someone else's person profile, last admin…); code `refused`: the \
        store refused the signed change; code `cross_site`: a page of another site made the \
        browser send the request.",
        [
            ("not_allowed", "not_allowed", "name may only be edited by admins: this entity is not open to edition"),
            ("refused", "refused", "the change was refused: …"),
        ];
    /// 403: a request a page of another site made the browser send.
    CrossSite: CROSS_SITE,
        [("cross_site", "cross_site", "this node answers only its own pages and programs on this computer, not a page of another site")];
    /// 503: not answered in time.
    Timeout: "Code `timeout`: the request was not answered within 60 s (a body sent very \
        slowly, a disk that hangs); try again.",
        [("timeout", "timeout", "the request was not answered within 60 s; try again")];
    /// 404: no such entity.
    UnknownEntity: "Code `unknown_entity`: no entity with this id in this node's store.",
        [("unknown_entity", "unknown_entity", "no entity aigfjguydgfehzvq4y5dq366ze in this directory; `communecter list` shows what there is")];
    /// 409: not joined yet.
    NotJoined: "Code `not_joined`: this node has no identity yet; `POST /api/init` first.",
        [("not_joined", "not_joined", "this node has no identity yet: POST /api/init with your postal code first")];
    /// 413: the body is too large.
    TooLarge: "Code `too_large`: the request body is larger than 64 KiB.",
        [("too_large", "too_large", "Failed to buffer the request body: length limit exceeded")];
    /// 415: the body is not declared as JSON.
    UnsupportedMediaType: "Code `bad_request`: the body must be sent with `Content-Type: application/json`.",
        [("unsupported", "bad_request", "Expected request with `Content-Type: application/json`")];
    /// 422: a value the schema refuses.
    Unprocessable: "Code `invalid`: a value is refused by the schema (too long, wrong format, \
        field not for this kind, no edits given…), or a French position is more than 10 km \
        from its address's commune (`reason` `position_outside_commune`, `field` `geo`); code \
        `bad_request`: the JSON body does not have the expected shape (missing or unknown \
        member, unknown field name or relation).",
        [
            ("invalid", "invalid", "name is 130 characters long; the limit is 120"),
            ("position_outside_commune", "invalid", "the position is 653 km from Paris 11e Arrondissement (75011); check latitude and longitude, or the postal code"),
            ("bad_request_shape", "bad_request", "Failed to deserialize the JSON body into the target type: missing field `postal_code` at line 1 column 2"),
        ];
    /// 500: the store or the disk failed.
    Internal: "Code `internal`: the store or the disk failed; code `damaged`: the store \
        holds a record the disk altered, which is not served (`communecter check`, then \
        `communecter repair`).",
        [("internal", "internal", super::error::INTERNAL_MESSAGE)];
    /// 507: the disk is full.
    DiskFull: "Code `disk_full`: the disk holding the store is full; nothing of the write was \
        kept. Writes resume once space is freed, without restarting the node.",
        [("disk_full", "disk_full", "the disk holding the store is full: nothing of this write was kept; free some space and try again (no restart needed)")];
}

/// The answers every write with a JSON body may give besides its own: no
/// token (401), a body too large (413) or not declared as JSON (415), a
/// failing disk (500), a full one (507).
pub(super) struct WriteErrors;

impl IntoResponses for WriteErrors {
    fn responses() -> BTreeMap<String, RefOr<response::Response>> {
        [
            ("401", Unauthorized::response().0),
            ("413", TooLarge::response().0),
            ("415", UnsupportedMediaType::response().0),
            ("500", Internal::response().0),
            ("507", DiskFull::response().0),
        ]
        .into_iter()
        .map(|(status, name)| {
            let reference = utoipa::openapi::Ref::from_response_name(name);
            (status.to_owned(), RefOr::Ref(reference))
        })
        .collect()
    }
}

/// What every route may answer to a request another site's page made.
const CROSS_SITE: &str = "Code `cross_site`: a page of another site made the browser send the \
    request (its `Sec-Fetch-Site` or `Origin` say so), or it is a preflight (`OPTIONS`): \
    refused on every route, reads included.";

/// Documents on every operation what the layers around the whole router
/// answer (no route declares it): the refusal of cross-site requests, and
/// the time limit.
pub(super) fn layers_everywhere(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            let timeout = utoipa::openapi::Ref::from_response_name(Timeout::response().0);
            responses.insert("503".into(), RefOr::Ref(timeout));
            match responses.get_mut("403") {
                None => {
                    let reference =
                        utoipa::openapi::Ref::from_response_name(CrossSite::response().0);
                    responses.insert("403".into(), RefOr::Ref(reference));
                }
                // The shared `Forbidden` says it already.
                Some(RefOr::Ref(_)) => {}
                Some(RefOr::T(response)) => {
                    response.description = format!("{} {CROSS_SITE}", response.description);
                }
            }
        }
    }
}

/// The author key of the examples.
const AUTHOR: &str = "1a5304b1686108db918704c3c9948b6a33e0e15e2159f827cf3e9ad956c53bf4";

/// An organization as the API shows it: the example answer of the entity
/// routes.
pub(super) fn entity() -> Value {
    json!({
        "id": "aigfjguydgfehzvq4y5dq366ze",
        "kind": "organization",
        "fields": {
            "category": "garage",
            "name": "Garage Payet",
            "organization_type": "local_business"
        },
        "address": {
            "street": "12 rue de Paris",
            "postal_code": "97400",
            "insee_code": "97411",
            "locality": "Saint-Denis",
            "country": "FR"
        },
        "geo": {"lat": -20.8789, "lon": 55.4481},
        "tags": ["mécanique"],
        "admins": [AUTHOR],
        "creator": AUTHOR,
        "open_edition": true,
        "deleted": false,
        "created_at": 1795608968926i64,
        "updated_at": 1795608968926i64,
        "links": [{
            "author": AUTHOR,
            "relation": "recommends",
            "at": 1795608969157i64,
            "comment": "Travail sérieux",
            "person": "vmlq4uuugsnows6rupkspxi66q",
            "confirmed": true
        }],
        "reports": []
    })
}

/// The citizen's person entity just after joining.
pub(super) fn person() -> Value {
    json!({
        "id": "vmlq4uuugsnows6rupkspxi66q",
        "kind": "person",
        "fields": {"name": "Marie Hoarau"},
        "address": {
            "postal_code": "97400",
            "insee_code": "97411",
            "locality": "Saint-Denis",
            "country": "FR"
        },
        "tags": [],
        "admins": [AUTHOR],
        "creator": AUTHOR,
        "open_edition": false,
        "deleted": false,
        "created_at": 1795608966982i64,
        "updated_at": 1795608966982i64,
        "links": [],
        "reports": []
    })
}
