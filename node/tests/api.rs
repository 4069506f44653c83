//! The local HTTP API: tokens, bad requests, the whole flow, and the daemon
//! around it (one per data directory, loopback only, clean shutdown).

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use node::api::{ApiState, MAX_BODY_BYTES, router};
use node::daemon::{Daemon, DaemonConfig, DaemonError};
use node::identity::DataDir;
use node::local::{Join, Local};
use serde_json::{Value, json};
use support::openapi::Document;
use tower::ServiceExt;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// The API's OpenAPI document, every answer is checked against.
fn document() -> &'static Document {
    static DOCUMENT: LazyLock<Document> = LazyLock::new(|| {
        Document::new(serde_json::to_value(node::api::openapi()).expect("the document"))
    });
    &DOCUMENT
}

struct Api {
    _temp: tempfile::TempDir,
    state: Arc<ApiState>,
    router: Router,
}

fn api(joined: bool) -> Api {
    let temp = tempfile::tempdir().unwrap();
    let dir = DataDir::resolve(Some(temp.path().join("home"))).unwrap();
    let local = joined.then(|| {
        Local::init(
            &dir,
            &Join {
                postal_code: "97400".into(),
                name: Some("Marie".into()),
                email: Some("marie@example.org".into()),
                ..Join::default()
            },
        )
        .unwrap()
    });
    let state = Arc::new(ApiState::new(
        dir,
        TOKEN.into(),
        local,
        "http://127.0.0.1:7878".into(),
    ));
    Api {
        _temp: temp,
        router: router(state.clone()),
        state,
    }
}

impl Api {
    /// Sends `request`; the answer must be what the OpenAPI document says
    /// of its route and status.
    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let method = request.method().as_str().to_lowercase();
        let path = request.uri().to_string();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
        if let Err(why) = document().check_answer(&method, &path, status.as_u16(), &body) {
            panic!("the answer is not as documented: {why}");
        }
        (status, body)
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call("GET", path, None, None).await
    }

    async fn write(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(method, path, Some(TOKEN), body).await
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

fn garage() -> Value {
    json!({
        "kind": "organization",
        "name": "Garage Payet",
        "edits": [
            {"set": ["category", "garage"]},
            {"add_tag": "mécanique"},
            {"set_geo": {"lat": -20.88, "lon": 55.45}}
        ]
    })
}

#[tokio::test]
async fn the_whole_flow_through_the_api() {
    let api = api(false);
    let (status, body) = api.get("/api/status").await;
    assert_eq!((status, &body["joined"]), (StatusCode::OK, &json!(false)));
    let (status, body) = api.get("/api/entities").await;
    assert_error(status, &body, StatusCode::CONFLICT, "not_joined");
    let (status, person) = api
        .write(
            "POST",
            "/api/init",
            Some(json!({"postal_code": "97400", "name": "Marie", "email": "m@example.org"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{person}");
    assert_eq!(person["kind"], "person");
    assert!(!person.to_string().contains("m@example.org"));
    let (status, body) = api
        .write("POST", "/api/init", Some(json!({"postal_code": "97400"})))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "already_joined");

    let (status, entity) = api.write("POST", "/api/entities", Some(garage())).await;
    assert_eq!(status, StatusCode::CREATED, "{entity}");
    let id = entity["id"].as_str().unwrap().to_owned();
    assert_eq!(entity["address"]["locality"], "Saint-Denis");

    let (status, entity) = api
        .write(
            "PATCH",
            &format!("/api/entities/{id}"),
            Some(json!({"edits": [{"set": ["description", "Toutes marques"]}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{entity}");
    assert_eq!(entity["fields"]["description"], "Toutes marques");
    let (status, entity) = api
        .write(
            "POST",
            &format!("/api/entities/{id}/links"),
            Some(json!({"relation": "recommends", "comment": "Top"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{entity}");
    assert_eq!(entity["links"][0]["person"], person["id"]);

    let (status, found) = api.get("/api/search?q=MECANIQUE").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found[0]["id"], id.as_str());
    let (_, listed) = api
        .get("/api/entities?kind=organization&postal_code=97400&tag=m%C3%A9canique")
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (_, history) = api.get(&format!("/api/entities/{id}/history")).await;
    assert_eq!(history.as_array().unwrap().len(), 3);
    let (_, communes) = api.get("/api/communes/97400").await;
    assert_eq!(communes[0]["insee"], "97411");

    let (status, entity) = api
        .write(
            "DELETE",
            &format!("/api/entities/{id}/links/recommends"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(entity["links"].as_array().unwrap().is_empty());
    let (status, entity) = api
        .write("DELETE", &format!("/api/entities/{id}"), None)
        .await;
    assert_eq!((status, &entity["deleted"]), (StatusCode::OK, &json!(true)));
    let (_, found) = api.get("/api/search?q=garage").await;
    assert!(found.as_array().unwrap().is_empty());
    let (_, status) = api.get("/api/status").await;
    assert_eq!(status["store"]["documents"], 2);
}

/// The forged recommendation found by trying the API as an attacker: a
/// `person` naming another citizen in a link edit is refused, and every
/// link names its real author's profile.
#[tokio::test]
async fn a_citizen_cannot_recommend_in_another_citizens_name() {
    let api = api(true);
    let (_, entity) = api.write("POST", "/api/entities", Some(garage())).await;
    let id = entity["id"].as_str().unwrap().to_owned();
    let (_, status) = api.get("/api/status").await;
    let me = status["person"].clone();
    // Another citizen of the commune, on their own node.
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = DataDir::resolve(Some(elsewhere.path().join("home"))).unwrap();
    let join = Join {
        postal_code: "97400".into(),
        ..Join::default()
    };
    let neighbour = Local::init(&dir, &join).unwrap().profile.person.to_string();
    let forged = json!({"edits": [{"link": {
        "relation": "recommends", "comment": "Arnaque", "person": neighbour
    }}]});
    let (status, body) = api
        .write("PATCH", &format!("/api/entities/{id}"), Some(forged))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "bad_request",
    );
    let (_, entity) = api.get(&format!("/api/entities/{id}")).await;
    assert!(entity["links"].as_array().unwrap().is_empty(), "{entity}");

    // Without the field, the recommendation is the citizen's own.
    let honest = json!({"edits": [{"link": {"relation": "recommends", "comment": "Top"}}]});
    let (status, entity) = api
        .write("PATCH", &format!("/api/entities/{id}"), Some(honest))
        .await;
    assert_eq!(status, StatusCode::OK, "{entity}");
    assert_eq!(entity["links"][0]["person"], me);
    assert_eq!(entity["links"][0]["author"], status_author(&api).await);
    assert!(!entity.to_string().contains(&neighbour));
}

/// Edits made at once on one entity all succeed: the citizen's actor has
/// one writer, so no two changes take the same sequence number, and no own
/// change lands in the quarantine kept for peers' faults.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_edits_of_one_entity_all_succeed() {
    let api = Arc::new(api(true));
    let (_, entity) = api.write("POST", "/api/entities", Some(garage())).await;
    let id = entity["id"].as_str().unwrap().to_owned();
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let (api, id) = (api.clone(), id.clone());
            tokio::spawn(async move {
                let mut refused = Vec::new();
                for edit in 0..25 {
                    let body =
                        json!({"edits": [{"set": ["description", format!("{writer}-{edit}")]}]});
                    let (status, body) = api
                        .write("PATCH", &format!("/api/entities/{id}"), Some(body))
                        .await;
                    if status != StatusCode::OK {
                        refused.push(body);
                    }
                }
                refused
            })
        })
        .collect();
    for writer in writers {
        let refused = writer.await.unwrap();
        assert!(refused.is_empty(), "refused: {refused:?}");
    }
    let (_, history) = api.get(&format!("/api/entities/{id}/history")).await;
    assert_eq!(history.as_array().unwrap().len(), 1 + 8 * 25);
    let (_, status) = api.get("/api/status").await;
    assert_eq!(status["store"]["quarantined"], 0, "{status}");
}

/// Values the rules refuse are validation errors (422 `invalid`): a name
/// that shows nothing, a text that turns its direction around, the tag
/// beyond the limit.
#[tokio::test]
async fn refused_values_are_validation_errors() {
    let api = api(true);
    for name in ["\u{200B}\u{200C}", "Garage \u{202E}tenaP"] {
        let (status, body) = api
            .write(
                "POST",
                "/api/entities",
                Some(json!({"kind": "organization", "name": name})),
            )
            .await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    let (_, entity) = api.write("POST", "/api/entities", Some(garage())).await;
    let id = entity["id"].as_str().unwrap().to_owned();
    let (status, body) = api
        .write(
            "POST",
            &format!("/api/entities/{id}/links"),
            Some(json!({"relation": "recommends", "comment": "Super \u{202E}nocra"})),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let tags: Vec<Value> = (0..20)
        .map(|n| json!({"add_tag": format!("étiquette {n}")}))
        .collect();
    let (status, body) = api
        .write(
            "PATCH",
            &format!("/api/entities/{id}"),
            Some(json!({"edits": tags})),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("20"),
        "{body}"
    );
    // Each says why, and about which field, in stable names a page can
    // put in its own language.
    assert_eq!(
        (&body["error"]["reason"], &body["error"]["field"]),
        (&json!("too_many_tags"), &json!("tags")),
        "{body}"
    );
    let (_, event) = api
        .write(
            "POST",
            "/api/entities",
            Some(json!({"kind": "event", "name": "Concert", "edits": [
                {"set": ["start", "2026-12-20T19:00"]}]})),
        )
        .await;
    let event = event["id"].as_str().unwrap().to_owned();
    for (edit, reason, field) in [
        (
            json!({"set": ["end", "2026-12-20T18:00"]}),
            "end_before_start",
            json!("end"),
        ),
        (
            json!({"set": ["end", "20/12/2026 23:00"]}),
            "date",
            Value::Null,
        ),
        (
            json!({"set": ["url", "ftp://example.org"]}),
            "url",
            json!("url"),
        ),
        (json!({"set": ["name", ""]}), "empty", json!("name")),
    ] {
        let (status, body) = api
            .write(
                "PATCH",
                &format!("/api/entities/{event}"),
                Some(json!({"edits": [edit]})),
            )
            .await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(body["error"]["reason"], reason, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    // Other errors carry neither.
    let (status, body) = api
        .write(
            "PATCH",
            "/api/entities/0000000000000000000000000000000000000000000000000000000000000000",
            Some(json!({"edits": [{"add_tag": "x"}]})),
        )
        .await;
    assert!(status.is_client_error(), "{body}");
    assert!(body["error"].get("reason").is_none(), "{body}");
}

/// A French position far from its address's commune is a validation error
/// (`position_outside_commune`, about `geo`), on creation and on an edit
/// that moves the entity; an entity placed so before the check stays
/// editable.
#[tokio::test]
async fn a_position_far_from_its_commune_is_refused() {
    let api = api(true);
    let cafe = |lat: f64, lon: f64| {
        json!({"kind": "organization", "name": "Café de la Roquette", "postal_code": "75011",
            "edits": [{"set_geo": {"lat": lat, "lon": lon}}]})
    };
    let outside = |status: StatusCode, body: &Value| {
        assert_error(status, body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(
            body["error"]["reason"], "position_outside_commune",
            "{body}"
        );
        assert_eq!(body["error"]["field"], "geo", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("km from Paris 11e Arrondissement (75011); check latitude"),
            "{message}"
        );
    };
    // Marseille's coordinates, with a Paris address.
    let (status, body) = api
        .write("POST", "/api/entities", Some(cafe(43.296, 5.37)))
        .await;
    outside(status, &body);
    let (_, listed) = api.get("/api/entities?postal_code=75011").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");
    let (status, created) = api
        .write("POST", "/api/entities", Some(cafe(48.859, 2.38)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["address"]["insee_code"], "75111");
    let path = format!("/api/entities/{}", created["id"].as_str().unwrap());
    let (status, body) = api
        .write(
            "PATCH",
            &path,
            Some(json!({"edits": [{"set_geo": {"lat": 43.296, "lon": 5.37}}]})),
        )
        .await;
    outside(status, &body);
    // An entity placed in Marseille before the check was made.
    let local = api.state.joined().unwrap();
    let genesis = crdt_model::document::Genesis {
        kind: crdt_model::schema::Kind::Organization,
        name: "Ancien café".into(),
        postal_code: "75011".into(),
        country: "FR".into(),
        open_edition: None,
    };
    let old = crdt_model::document::create(
        &genesis,
        &local.identity.actor(local.profile.device),
        1_700_000_000_000,
        [3; 16],
        &[crdt_model::document::Edit::SetGeo {
            lat: 43.296,
            lon: 5.37,
        }],
    )
    .unwrap();
    let envelope = crdt_model::signed::SignedChange::sign(
        &local.identity.signing_key,
        old.id,
        "75011",
        old.change.raw_bytes(),
    )
    .unwrap();
    let stored = node::ingest::ingest(
        &local.store,
        node::store::Origin::Local,
        &[envelope.encode()],
    )
    .unwrap();
    assert!(stored[0].is_stored(), "{stored:?}");
    let (status, body) = api
        .write(
            "PATCH",
            &format!("/api/entities/{}", old.id),
            Some(json!({"edits": [{"set": ["name", "Ancien café de la Roquette"]}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["geo"]["lat"], 43.296, "{body}");
}

/// A request and its whole answer, whatever its body: for the page and
/// the pairing link's redirect.
async fn exchange(
    api: &Api,
    request: axum::http::request::Builder,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = api
        .router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The page carries no secret that another user of the computer could read
/// from it; the citizen's own command line pairs their browser with a
/// one-time link, whose session cookie no script reads and no other site
/// sends; requests another site's page makes are refused on every route.
#[tokio::test]
async fn the_web_map_writes_only_from_a_paired_browser_of_its_own_site() {
    let api = api(true);
    let (status, _, page) = exchange(&api, Request::get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains(TOKEN), "the page carries the write token");

    // Pairing needs the token, which only the owner can read.
    let (status, body) = api.call("POST", "/api/pairings", None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, pairing) = api.write("POST", "/api/pairings", None).await;
    assert_eq!(status, StatusCode::CREATED, "{pairing}");
    let url = pairing["url"].as_str().unwrap();
    let path = &url[url.find("/api/pair?code=").unwrap()..];

    let (status, headers, _) = exchange(&api, Request::get(path)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    // Once only.
    let (status, headers, _) = exchange(&api, Request::get(path)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/?pairing=expired");
    assert!(headers.get(header::SET_COOKIE).is_none());

    let with_cookie = |method: &str, path: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, &session)
    };
    let (_, body) = api
        .send(
            with_cookie("GET", "/api/session")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(body["paired"], true);
    let (_, body) = api.get("/api/session").await;
    assert_eq!(body["paired"], false);
    // A paired browser writes, even with a forged cookie beside its own.
    for extra in [None, Some("communecter_session=forged")] {
        let mut request = with_cookie("POST", "/api/entities");
        if let Some(extra) = extra {
            request = request.header(header::COOKIE, extra);
        }
        let request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(garage().to_string()))
            .unwrap();
        let (status, body) = api.send(request).await;
        assert_eq!(status, StatusCode::CREATED, "{extra:?}: {body}");
    }
    let (status, body) = api
        .send(
            Request::post("/api/entities")
                .header(header::COOKIE, "communecter_session=forged")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(garage().to_string()))
                .unwrap(),
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");

    // Another site's page, even with the cookie, on every route.
    let foreign = [
        ("POST", "/api/entities", "origin", "http://evil.example"),
        ("GET", "/api/export/json", "sec-fetch-site", "cross-site"),
        ("GET", "/api/search?q=garage", "sec-fetch-site", "same-site"),
        ("GET", "/api/status", "origin", "null"),
        ("GET", "/app.js", "sec-fetch-site", "cross-site"),
    ];
    for (method, path, name, value) in foreign {
        let request = with_cookie(method, path)
            .header(name, value)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(garage().to_string()))
            .unwrap();
        let (status, body) = api.send(request).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "cross_site");
    }
    // A preflight, as Private Network Access sends it, gets no CORS grant.
    let (status, headers, _) = exchange(
        &api,
        Request::builder()
            .method("OPTIONS")
            .uri("/api/entities")
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-private-network", "true"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        !headers
            .keys()
            .any(|name| name.as_str().starts_with("access-control-")),
        "{headers:?}"
    );
    // Its own pages pass, and a link to the map from elsewhere opens it.
    let (status, _) = api
        .send(
            with_cookie("GET", "/api/export/json")
                .header("sec-fetch-site", "same-origin")
                .header(header::HOST, "127.0.0.1:7878")
                .header(header::ORIGIN, "http://127.0.0.1:7878")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = exchange(
        &api,
        Request::get("/")
            .header("sec-fetch-site", "cross-site")
            .header("sec-fetch-mode", "navigate"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// A search is bounded (a 60 KB one cost 20 s of CPU), and several exports
/// asked at once all come, taking turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn searches_are_bounded_and_exports_take_turns() {
    let api = Arc::new(api(true));
    let long = "garage ".repeat(40);
    let (status, body) = api
        .get(&format!("/api/search?q={}", long.replace(' ', "%20")))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, _) = api.get("/api/search?q=garage").await;
    assert_eq!(status, StatusCode::OK);
    let exports: Vec<_> = (0..6)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move { api.get("/api/export/json").await })
        })
        .collect();
    for export in exports {
        let (status, body) = export.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(body["entities"].is_array());
    }
}

/// Every answer, JSON and errors included, says not to guess its type.
#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let api = api(true);
    for path in ["/api/status", "/api/entities", "/api/no-such", "/"] {
        let (_, headers, _) = exchange(&api, Request::get(path)).await;
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{path}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
    }
}

async fn status_author(api: &Api) -> Value {
    api.get("/api/status").await.1["author"].clone()
}

#[tokio::test]
async fn writes_without_the_right_token_are_refused_and_change_nothing() {
    let api = api(true);
    let (_, before) = api.get("/api/status").await;
    for token in [None, Some("wrong"), Some(&TOKEN[..31])] {
        let (status, body) = api
            .call("POST", "/api/entities", token, Some(garage()))
            .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        let (status, body) = api
            .call(
                "POST",
                "/api/init",
                token,
                Some(json!({"postal_code": "97400"})),
            )
            .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let (_, list) = api.get("/api/entities").await;
    let id = list[0]["id"].as_str().unwrap().to_owned();
    for (method, path) in [
        ("PATCH", format!("/api/entities/{id}")),
        ("DELETE", format!("/api/entities/{id}")),
        ("POST", format!("/api/entities/{id}/links")),
        ("DELETE", format!("/api/entities/{id}/links/follows")),
    ] {
        let (status, body) = api
            .call(
                method,
                &path,
                None,
                Some(json!({"edits": [{"add_tag": "x"}], "relation": "follows"})),
            )
            .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let (_, after) = api.get("/api/status").await;
    assert_eq!(before["store"], after["store"]);
}

#[tokio::test]
async fn bad_requests_get_a_json_4xx() {
    let api = api(true);
    let (status, body) = api
        .raw(
            "POST",
            "/api/entities",
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api
        .raw(
            "POST",
            "/api/entities",
            "text/plain",
            garage().to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let huge = json!({"kind": "place", "name": "x".repeat(MAX_BODY_BYTES)});
    let (status, body) = api
        .raw(
            "POST",
            "/api/entities",
            "application/json",
            huge.to_string().into_bytes(),
        )
        .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    // No edits: refused, once the id is known good.
    let empty = Some(json!({"edits": []}));
    let (status, body) = api
        .write("PATCH", "/api/entities/nonsense", empty.clone())
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_id");
    let (_, created) = api.write("POST", "/api/entities", Some(garage())).await;
    let path = format!("/api/entities/{}", created["id"].as_str().unwrap());
    let (status, body) = api.write("PATCH", &path, empty).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    // Bodies that are JSON but not a valid new entity.
    for (entity, expected) in [
        (json!({"kind": "place", "name": "x", "colour": "red"}), None),
        (json!({"kind": "spaceship", "name": "x"}), None),
        (
            json!({"kind": "place", "name": ""}),
            Some((StatusCode::UNPROCESSABLE_ENTITY, "invalid")),
        ),
        (
            json!({"kind": "place", "name": "x", "postal_code": "00000"}),
            Some((StatusCode::BAD_REQUEST, "unknown_postal_code")),
        ),
        (
            json!({"kind": "person", "name": "x"}),
            Some((StatusCode::BAD_REQUEST, "invalid")),
        ),
    ] {
        let (status, body) = api
            .write("POST", "/api/entities", Some(entity.clone()))
            .await;
        match expected {
            Some((expected, code)) => assert_error(status, &body, expected, code),
            None => assert!(status.is_client_error(), "{entity}: {status} {body}"),
        }
    }
    let (status, body) = api.get("/api/entities/not-an-id").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_id");
    let (status, body) = api.get("/api/entities/aaaaaaaaaaaaaaaaaaaaaaaaaa").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "unknown_entity");
    let (status, body) = api
        .get("/api/entities/aaaaaaaaaaaaaaaaaaaaaaaaaa/history")
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "unknown_entity");
    let (status, body) = api
        .write(
            "PATCH",
            "/api/entities/aaaaaaaaaaaaaaaaaaaaaaaaaa",
            Some(json!({"edits": [{"add_tag": "x"}]})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "unknown_entity");
    let (status, body) = api.get("/api/entities?kind=spaceship").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api.get("/api/search").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api.get("/api/nowhere").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = api.get("/api/communes/00000").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "unknown_postal_code");

    // Edits that the schema or the rules refuse.
    let (_, entity) = api.write("POST", "/api/entities", Some(garage())).await;
    let id = entity["id"].as_str().unwrap();
    let path = format!("/api/entities/{id}");
    for edits in [
        json!([{"set": ["colour", "red"]}]),
        json!([{"set": ["url", "javascript:alert(1)"]}]),
        json!([{"set": ["start", "2026-01-01"]}]),
        json!([{"clear": "name"}]),
        json!([]),
    ] {
        let (status, body) = api
            .write("PATCH", &path, Some(json!({"edits": edits})))
            .await;
        assert!(status.is_client_error(), "{edits}: {status} {body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    let (status, body) = api
        .write(
            "PATCH",
            &path,
            Some(json!({"edits": [{"remove_admin": entity["creator"]}]})),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "not_allowed");
    let (status, body) = api
        .write("DELETE", &format!("{path}/links/friend"), None)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let api = api(false);
    let (status, body) = api.get("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{body}"
    );
}

#[tokio::test]
async fn one_daemon_per_data_directory_on_loopback_only() {
    let temp = tempfile::tempdir().unwrap();
    let dir = DataDir::resolve(Some(temp.path().join("home"))).unwrap();
    let config = DaemonConfig {
        dir: dir.clone(),
        api: "127.0.0.1:0".parse().unwrap(),
        api_public: false,
        addr_file: Some(temp.path().join("addr.json")),
        net: None,
        tiles: None,
    };
    let public = DaemonConfig {
        api: "0.0.0.0:0".parse().unwrap(),
        ..config.clone()
    };
    assert!(matches!(
        Daemon::start(public).await,
        Err(DaemonError::PublicApi(_))
    ));

    let first = Daemon::start(config.clone()).await.unwrap();
    let address = first.address();
    let published: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.api_file()).unwrap()).unwrap();
    assert_eq!(published["api"], format!("http://{address}"));
    let addr_file: Value =
        serde_json::from_str(&std::fs::read_to_string(temp.path().join("addr.json")).unwrap())
            .unwrap();
    assert_eq!(addr_file["api"], published["api"]);
    assert!(dir.node_running());

    let second = Daemon::start(config).await;
    match second {
        Err(DaemonError::AlreadyRunning { api, .. }) => assert!(api.contains(&address.to_string())),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a second daemon started"),
    }

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(first.serve(async {
        let _ = stopped.await;
    }));
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
    assert!(!dir.api_file().exists(), "api.json is removed at shutdown");
    assert!(!dir.node_running());
}

#[tokio::test]
async fn open_data_goes_out_and_comes_in_through_the_api() {
    let api = api(true);
    let (status, garage) = api
        .write(
            "POST",
            "/api/entities",
            Some(json!({
                "kind": "organization",
                "name": "Garage Payet",
                "edits": [{"set_geo": {"lat": -20.88, "lon": 55.45}}],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{garage}");

    let (status, export) = api.get("/api/export/json?licence=odbl-1.0").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export["meta"]["licence"]["id"], "odbl-1.0");
    assert_eq!(export["entities"].as_array().unwrap().len(), 2);
    assert!(!export.to_string().contains("marie@example.org"));
    let (status, geojson) = api.get("/api/export/geojson?kind=organization").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        geojson["features"][0]["geometry"]["coordinates"],
        json!([55.45, -20.88])
    );
    let response = api
        .router
        .clone()
        .oneshot(Request::get("/api/export/csv").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    let (status, body) = api.get("/api/export/pdf").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api.get("/api/export/json?licence=proprietary").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");

    let rows = json!({"rows": [
        {"at": "line 2", "values": {"name": "Garage Payet", "postal_code": "97400", "lat": "-20.88", "lon": "55.45"}},
        {"at": "line 3", "values": {"name": "Crèche Ti Moun", "postal_code": "97400"}, "tags": ["enfance"]},
        {"at": "line 4", "values": {"name": "Sans code"}},
    ]});
    let (status, body) = api
        .call("POST", "/api/import", None, Some(rows.clone()))
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = api.write("POST", "/api/import", Some(rows)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outcomes = body["outcomes"].as_array().unwrap();
    assert_eq!(outcomes[0]["outcome"], "duplicate");
    assert_eq!(outcomes[1]["outcome"], "imported");
    assert_eq!(outcomes[2]["outcome"], "rejected");
    assert_eq!(outcomes[2]["reason"], "missing postal code");
    let (_, list) = api.get("/api/entities?tag=enfance").await;
    assert_eq!(list[0]["fields"]["name"], "Crèche Ti Moun");
    let too_many: Vec<Value> = (0..5_001)
        .map(|n| json!({"at": n.to_string(), "values": {}}))
        .collect();
    let (status, body) = api
        .write("POST", "/api/import", Some(json!({ "rows": too_many })))
        .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "too_large");
}

/// A search finds its best 500 entities, and the ids of all it finds:
/// a page filtering the directory is not held to a first page.
#[tokio::test]
async fn every_match_of_a_search_is_told_by_its_ids() {
    let api = api(true);
    let rows: Vec<Value> = (0..600)
        .map(|n| json!({"at": format!("line {n}"), "values": {"name": format!("Association {n}"), "postal_code": "97400"}}))
        .chain([json!({"at": "line 600", "values": {"name": "Garage Payet", "postal_code": "97400"}})])
        .collect();
    let (status, body) = api
        .write("POST", "/api/import", Some(json!({ "rows": rows })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, found) = api.get("/api/search?q=associa&limit=1000").await;
    assert_eq!(found.as_array().unwrap().len(), 500);
    let (status, ids) = api.get("/api/search/ids?q=associa").await;
    assert_eq!(status, StatusCode::OK, "{ids}");
    let ids: std::collections::BTreeSet<&str> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 600);
    let (_, garage) = api.get("/api/search?q=garage").await;
    assert!(!ids.contains(garage[0]["id"].as_str().unwrap()));
    let (status, body) = api.get("/api/search/ids?q=%20").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn a_network_that_stopped_is_shown_in_the_status() {
    let api = api(true);
    let (status, body) = api.get("/api/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["network"], "offline", "{body}");
    assert!(body.get("network_error").is_none(), "{body}");
    // The daemon says so when the network's task ends.
    api.state
        .network_stopped("the network's event loop failed: task panicked".into());
    let (_, body) = api.get("/api/status").await;
    assert_eq!(body["network"], "stopped", "{body}");
    assert_eq!(
        body["network_error"],
        "the network's event loop failed: task panicked"
    );
    assert_eq!(body["joined"], true);
}

/// A room's decisions through the API, each answer as documented: a
/// room, a proposal, a vote, a second vote refused with its reason, the
/// closing, the tally verified; blocking an author, and oneself refused.
#[tokio::test]
async fn decisions_and_blocks_through_the_api() {
    let api = api(true);
    let (status, room) = api
        .write(
            "POST",
            "/api/entities",
            Some(
                json!({"kind": "room", "name": "Quartier", "edits": [{"set": ["who", "anyone"]}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room = room["id"].as_str().unwrap().to_owned();
    let (status, made) = api
        .write(
            "POST",
            "/api/decisions",
            Some(json!({"room": room, "decision": {"propose": {"proposal": {"title": "Bancs", "text": "Deux bancs."}}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let proposal = made["made"].as_str().unwrap().to_owned();
    let vote =
        |choice: &str| json!({"decision": {"vote": {"proposal": proposal, "choice": choice}}});
    let (status, _) = api.write("POST", "/api/decisions", Some(vote("yes"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api.write("POST", "/api/decisions", Some(vote("no"))).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "not_allowed");
    assert_eq!(body["error"]["reason"], "second_vote");
    let (status, listed) = api.get(&format!("/api/rooms/{room}/proposals")).await;
    assert_eq!(
        (status, &listed["proposals"][0]["phase"]),
        (StatusCode::OK, &json!("voting"))
    );
    let close = json!({"decision": {"close": {"proposal": proposal, "stage": "vote"}}});
    assert_eq!(
        api.write("POST", "/api/decisions", Some(close)).await.0,
        StatusCode::OK
    );
    let (status, tally) = api
        .get(&format!("/api/proposals/{proposal}?verify=true"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tally["tally"]["outcome"]["result"], "adopted");
    assert_eq!(tally["verified"]["same"], true);
    let (status, body) = api.get("/api/proposals/nothing.0000000000000000").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "unknown_proposal");

    // Blocks: someone else's key, not one's own, not a non-key.
    let other = node::model::ids::AuthorKey::of(
        &node::model::ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    );
    let (status, blocked) = api
        .write("POST", &format!("/api/blocks/{other}"), None)
        .await;
    assert_eq!(
        (status, blocked),
        (StatusCode::OK, json!([other.to_string()]))
    );
    let me = status_author(&api).await;
    let (status, body) = api
        .write(
            "POST",
            &format!("/api/blocks/{}", me.as_str().unwrap()),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (status, body) = api.write("POST", "/api/blocks/nobody", None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api
        .call("POST", &format!("/api/blocks/{other}"), None, None)
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, blocked) = api
        .write("DELETE", &format!("/api/blocks/{other}"), None)
        .await;
    assert_eq!((status, blocked), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn moderation_through_the_api() {
    let api = api(true);
    let (_, garage) = api
        .write(
            "POST",
            "/api/entities",
            Some(json!({"kind": "organization", "name": "Garage des insultes"})),
        )
        .await;
    let garage = garage["id"].as_str().unwrap().to_owned();
    let (status, reported) = api
        .write(
            "POST",
            &format!("/api/entities/{garage}/report"),
            Some(json!({"reason": "Insultes"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reported}");
    assert_eq!(reported["state"]["counted"][0]["reason"], "Insultes");
    assert_eq!(
        reported["state"]["flagged"], false,
        "one report is not three"
    );
    let (status, body) = api
        .write(
            "POST",
            &format!("/api/entities/{garage}/report"),
            Some(json!({"reason": ""})),
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let hide = json!({"asks": "hide"});
    let moderate = format!("/api/entities/{garage}/moderation");
    let (status, body) = api.write("POST", &moderate, Some(hide.clone())).await;
    assert_error(status, &body, StatusCode::CONFLICT, "no_moderation_room");

    // A moderation room; the vote opened by hand, adopted.
    let (status, room) = api
        .write(
            "POST",
            "/api/entities",
            Some(json!({"kind": "room", "name": "Modération",
                "edits": [{"set": ["moderation", true]}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let (status, opened) = api.write("POST", &moderate, Some(hide.clone())).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    let proposal = opened["opened"].as_str().unwrap().to_owned();
    assert_eq!(opened["room"], room["id"]);
    let (status, body) = api.write("POST", &moderate, Some(hide.clone())).await;
    assert_error(status, &body, StatusCode::CONFLICT, "not_due");
    let (status, queue) = api.get("/api/moderation?postal_code=97400").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(queue[0]["state"]["open"], proposal.as_str());
    for decision in [
        json!({"vote": {"proposal": proposal, "choice": "yes"}}),
        json!({"close": {"proposal": proposal, "stage": "vote"}}),
    ] {
        let (status, body) = api
            .write(
                "POST",
                "/api/decisions",
                Some(json!({"decision": decision})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, state) = api.get(&moderate).await;
    assert_eq!(state["state"]["hidden"], true, "{state}");
    let (_, listed) = api.get("/api/entities?kind=organization").await;
    assert_eq!(listed, json!([]), "hidden from the list");
    let (_, listed) = api.get("/api/entities?kind=organization&hidden=true").await;
    assert_eq!(listed[0]["id"], garage.as_str(), "shown on request");
    let (_, found) = api.get("/api/search?q=garage").await;
    assert_eq!(found, json!([]));
    let (status, _) = api.get(&format!("/api/entities/{garage}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = api.write("POST", &moderate, Some(hide)).await;
    assert_eq!(body["error"]["code"], "not_due");
    let (status, withdrawn) = api
        .write("DELETE", &format!("/api/entities/{garage}/report"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(withdrawn["state"]["counted"], json!([]));
    assert_eq!(withdrawn["state"]["hidden"], true, "a decision stands");
}
