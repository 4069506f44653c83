//! The OpenAPI document of the local API ([`node::api::openapi`], served
//! at `/api/openapi.json`) is generated from the same route declarations
//! the router is built from. These tests hold it to the contract: OpenAPI
//! 3.1, exactly the routes listed in [`ROUTES`] (which the router is
//! checked to serve, method by method), every `$ref` resolving, every
//! operation complete (id, summary, path parameters, bearer token on
//! writes), every example valid against its schema, and the document
//! served equal to the one generated.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, header};
use node::api::{ApiState, router};
use node::identity::DataDir;
use serde_json::Value;
use support::openapi::Document;
use tower::ServiceExt;

/// Every route of `node::api::router`, as (method, path): the routes
/// scripts rely on. When a route is added, changed or removed, change it
/// here too.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/openapi.json"),
    ("get", "/api/status"),
    ("post", "/api/init"),
    ("get", "/api/communes/{query}"),
    ("get", "/api/entities"),
    ("post", "/api/entities"),
    ("get", "/api/entities/{id}"),
    ("patch", "/api/entities/{id}"),
    ("delete", "/api/entities/{id}"),
    ("get", "/api/entities/{id}/history"),
    ("post", "/api/entities/{id}/links"),
    ("delete", "/api/entities/{id}/links/{relation}"),
    ("get", "/api/search"),
    ("get", "/api/search/ids"),
    ("get", "/api/peers"),
    ("get", "/api/invite"),
    ("get", "/api/invite/qr"),
    ("post", "/api/join"),
    ("post", "/api/follows"),
    ("get", "/api/export/{format}"),
    ("post", "/api/import"),
    ("get", "/api/events"),
    ("post", "/api/pairings"),
    ("get", "/api/pair"),
    ("get", "/api/session"),
    ("post", "/api/decisions"),
    ("get", "/api/proposals/{id}"),
    ("get", "/api/rooms/{id}/proposals"),
    ("post", "/api/blocks/{author}"),
    ("delete", "/api/blocks/{author}"),
    ("get", "/api/moderation"),
    ("get", "/api/entities/{id}/moderation"),
    ("post", "/api/entities/{id}/moderation"),
    ("post", "/api/entities/{id}/report"),
    ("delete", "/api/entities/{id}/report"),
];

/// The keys of an OpenAPI path item that are operations.
const OPERATION_KEYS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The methods that write, and so need the bearer token.
const WRITE_METHODS: [&str; 3] = ["post", "patch", "delete"];

fn document() -> Value {
    serde_json::to_value(node::api::openapi()).expect("the document serializes")
}

fn routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect()
}

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    let mut out = Vec::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for (key, operation) in item {
            if OPERATION_KEYS.contains(&key.as_str()) {
                out.push((key.clone(), path.clone(), operation));
            }
        }
    }
    out
}

/// Every `$ref` value in `value`, depth first.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                if key == "$ref" {
                    out.push(item.as_str().expect("a $ref is a string"));
                }
                refs(item, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                refs(item, out);
            }
        }
        _ => {}
    }
}

/// Follows a local `$ref` (once), or returns `value` itself.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => doc
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{reference} does not resolve")),
        None => value,
    }
}

/// The `{name}`s of a path template.
fn template_parameters(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn is_openapi_3_1() {
    let doc = document();
    let version = doc["openapi"].as_str().expect("`openapi` is a string");
    assert!(version.starts_with("3.1."), "OpenAPI {version}, not 3.1");
    assert_eq!(doc["info"]["title"], "Communecter local API");
    assert_eq!(doc["info"]["version"], "1");
    let description = doc["info"]["description"].as_str().unwrap_or_default();
    assert!(description.contains("127.0.0.1:7878"), "{description}");
    assert_eq!(doc["servers"][0]["url"], "http://127.0.0.1:7878");
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    assert!(
        doc.get("security").is_none(),
        "reads are open: security belongs on the write operations only"
    );
}

#[test]
fn documents_exactly_the_routes() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let routes = routes();
    assert_eq!(routes.len(), ROUTES.len(), "ROUTES has duplicates");
    let missing: Vec<_> = routes.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from openapi.json: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(
        extra.is_empty(),
        "openapi.json documents routes the router lacks: {extra:?}"
    );
}

#[test]
fn every_ref_resolves() {
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(
        !found.is_empty(),
        "the document uses no reusable components"
    );
    for reference in found {
        assert!(
            reference.starts_with("#/components/"),
            "{reference} is not a reference to a component"
        );
        assert!(
            doc.pointer(&reference[1..]).is_some(),
            "{reference} does not resolve"
        );
    }
}

#[test]
fn operations_are_complete() {
    let doc = document();
    let mut ids = BTreeMap::new();
    for (method, path, operation) in operations(&doc) {
        let name = format!("{} {path}", method.to_uppercase());
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{name} has no operationId");
        if let Some(other) = ids.insert(id.to_owned(), name.clone()) {
            panic!("{name} and {other} share the operationId {id}");
        }
        let summary = operation["summary"].as_str().unwrap_or_default();
        assert!(!summary.trim().is_empty(), "{name} has no summary");
        let responses = operation["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has no responses"));
        assert!(
            // A success, or the redirect of the pairing link.
            responses
                .keys()
                .any(|status| status.starts_with('2') || status == "303"),
            "{name} has no success response"
        );

        if WRITE_METHODS.contains(&method.as_str()) {
            assert_eq!(
                operation["security"],
                serde_json::json!([{"bearer": []}]),
                "{name} writes: it needs the bearer token"
            );
            assert!(responses.contains_key("401"), "{name} writes: document 401");
        } else {
            assert!(
                operation.get("security").is_none(),
                "{name} reads: it needs no token"
            );
        }

        // Path parameters: declared on the path item or the operation,
        // exactly those of the template, all required.
        let mut declared = BTreeSet::new();
        let shared = &doc["paths"][path.as_str()]["parameters"];
        let own = &operation["parameters"];
        for parameter in [shared, own]
            .into_iter()
            .filter_map(Value::as_array)
            .flatten()
        {
            let parameter = resolve(&doc, parameter);
            if parameter["in"] == "path" {
                assert_eq!(
                    parameter["required"], true,
                    "{name}: path parameter {} must be required",
                    parameter["name"]
                );
                assert!(
                    parameter.get("schema").is_some(),
                    "{name}: parameter {} has no schema",
                    parameter["name"]
                );
                declared.insert(parameter["name"].as_str().unwrap_or_default().to_owned());
            }
        }
        assert_eq!(
            declared,
            template_parameters(&path),
            "{name}: path parameters"
        );
    }
}

/// A router on a fresh, not joined data directory.
fn fresh_router() -> (tempfile::TempDir, axum::Router) {
    let temp = tempfile::tempdir().expect("temporary directory");
    let dir = DataDir::resolve(Some(temp.path().join("home"))).expect("data directory");
    let state = Arc::new(ApiState::new(
        dir,
        "0".repeat(64),
        None,
        "http://127.0.0.1:7878".into(),
    ));
    (temp, router(state))
}

/// Sends a request with a `{}` JSON body; returns the status and, unless
/// it is an event stream (which stays open), the body.
async fn request(router: &axum::Router, method: &str, path: &str) -> (u16, String) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .expect("a request");
    let response = router.clone().oneshot(request).await.expect("an answer");
    let status = response.status().as_u16();
    let stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|kind| kind.as_bytes().starts_with(b"text/event-stream"));
    if stream {
        return (status, String::new());
    }
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The router answers every listed (method, path) and no other method on
/// those paths: an unrouted path gets the `not_found` fallback, an unrouted
/// method on a routed path gets 405.
#[tokio::test]
async fn the_router_serves_exactly_these_methods() {
    let (_temp, router) = fresh_router();
    let unrouted = request(&router, "GET", "/api/no-such-endpoint").await;
    assert_eq!(unrouted.0, 404);
    assert!(unrouted.1.contains("\"not_found\""), "{}", unrouted.1);

    let routes = routes();
    let paths: BTreeSet<&str> = ROUTES.iter().map(|(_, path)| *path).collect();
    for template in paths {
        let path = template
            .replace("{id}", "aigfjguydgfehzvq4y5dq366ze")
            .replace("{relation}", "member")
            .replace("{query}", "97400")
            .replace("{format}", "json");
        for method in ["get", "post", "put", "patch", "delete"] {
            let (status, body) = request(&router, &method.to_uppercase(), &path).await;
            let routed = status != 405 && !(status == 404 && body.contains("\"not_found\""));
            let listed = routes.contains(&(method.to_owned(), template.to_owned()));
            assert_eq!(
                routed,
                listed,
                "{} {path}: answered {status} {body}",
                method.to_uppercase()
            );
        }
    }
}

/// `/api/openapi.json` serves the generated document.
#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let (_temp, router) = fresh_router();
    let (status, body) = request(&router, "GET", "/api/openapi.json").await;
    assert_eq!(status, 200);
    let served: Value = serde_json::from_str(&body).expect("the served document is JSON");
    assert_eq!(served, document());
}

/// Every example in the document is valid against the schema it
/// illustrates: the schemas, descriptions and examples cannot drift apart.
#[test]
fn every_example_matches_its_schema() {
    let doc = Document::new(document());
    match doc.check_examples() {
        // Entities, edits, requests, errors, parameters: dozens of them.
        Ok(checked) => {
            println!("{checked} examples checked");
            assert!(checked >= 40, "only {checked} examples checked");
        }
        Err(failures) => panic!("examples that do not match: {failures:#?}"),
    }
}

/// The schemas hold what the types write and read: a value the types
/// refuse fails the schema too (the checker is not lenient).
#[test]
fn the_schemas_refuse_what_the_types_refuse() {
    let doc = Document::new(document());
    let schema = |name: &str| serde_json::json!({"$ref": format!("#/components/schemas/{name}")});
    for (name, bad) in [
        ("Edit", serde_json::json!({"set": ["no_such_field", "x"]})),
        ("Edit", serde_json::json!({"add_tag": ""})),
        ("Edit", serde_json::json!("set")),
        ("EntityId", serde_json::json!("AIGFJGUYDGFEHZVQ4Y5DQ366ZE")),
        (
            "NewEntity",
            serde_json::json!({"kind": "shop", "name": "Garage"}),
        ),
        ("NewEntity", serde_json::json!({"kind": "organization"})),
        ("EditRequest", serde_json::json!({"edits": []})),
        (
            "JoinRequest",
            serde_json::json!({"postal_code": "97400", "town": "x"}),
        ),
    ] {
        assert!(
            doc.check(&schema(name), &bad).is_err(),
            "{name} accepts {bad}"
        );
    }
}
