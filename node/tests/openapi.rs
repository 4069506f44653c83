//! The OpenAPI document of the local API (`node/src/api/openapi.json`, served as
//! [`node::api::OPENAPI`]) describes exactly the routes of
//! [`node::api::router`]: the document, the list [`ROUTES`] below and the
//! router's own paths ([`node::api::PATHS`], declared with its routes) are
//! checked against one another, so none can drift. The
//! document must also be OpenAPI 3.1, every `$ref` in it must resolve, and
//! every operation must be complete (id, summary, path parameters, bearer
//! token on writes).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use node::api::{ApiState, OPENAPI, PATHS, router};
use node::identity::DataDir;
use serde_json::Value;

/// Every route of `node::api::router`, as (method, path). When a route is
/// added, changed or removed there, change it here and in `openapi.json`.
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
    ("get", "/api/peers"),
    ("post", "/api/follows"),
    ("get", "/api/export/{format}"),
    ("post", "/api/import"),
    ("get", "/api/events"),
];

/// The keys of an OpenAPI path item that are operations.
const OPERATION_KEYS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The methods that write, and so need the bearer token.
const WRITE_METHODS: [&str; 3] = ["post", "patch", "delete"];

fn document() -> Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is valid JSON")
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
            responses.keys().any(|status| status.starts_with('2')),
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

#[test]
fn routes_are_the_router_paths() {
    let listed: BTreeSet<String> = ROUTES.iter().map(|(_, path)| (*path).to_owned()).collect();
    let routed: BTreeSet<String> = PATHS.iter().map(|path| (*path).to_owned()).collect();
    assert_eq!(routed, listed, "the paths of `router` and ROUTES differ");
}

/// Sends a request with a `{}` JSON body; returns the status and the body.
fn request(address: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect to the API");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
    )
    .expect("send the request");
    // An event stream stays open: what came within a second is enough.
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(1)))
        .expect("read timeout");
    let mut bytes = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(error) => panic!("read the response: {error}"),
        }
    }
    let response = String::from_utf8_lossy(&bytes).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The router answers every listed (method, path) and no other method on
/// those paths: an unrouted path gets the `not_found` fallback, an unrouted
/// method on a routed path gets 405.
#[test]
fn the_router_serves_exactly_these_methods() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let dir = DataDir::resolve(Some(temp.path().join("home"))).expect("data directory");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind a free port");
    let address = listener.local_addr().expect("bound address");
    let state = Arc::new(ApiState::new(
        dir,
        "0".repeat(64),
        None,
        format!("http://{address}"),
    ));
    runtime.spawn(async move { axum::serve(listener, router(state)).await });

    let unrouted = request(address, "GET", "/api/no-such-endpoint");
    assert_eq!(unrouted.0, 404);
    assert!(unrouted.1.contains("\"not_found\""), "{}", unrouted.1);

    let routes = routes();
    let paths: BTreeSet<&str> = ROUTES.iter().map(|(_, path)| *path).collect();
    for template in paths {
        let path = template
            .replace("{id}", "aigfjguydgfehzvq4y5dq366ze")
            .replace("{relation}", "member")
            .replace("{query}", "97400");
        for method in ["get", "post", "put", "patch", "delete"] {
            let (status, body) = request(address, &method.to_uppercase(), &path);
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
