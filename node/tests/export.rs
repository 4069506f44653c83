//! Exports through the API are sent as they are written: a whole export
//! arrives whole; one that fails before it begins answers an error; one
//! that fails midway is cut short, never passed off as whole.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use crdt_model::document::Edit;
use crdt_model::schema::{Field, Kind, Value};
use node::identity::DataDir;
use node::local::Local;
use node::model::document::NewEntity;
use serde_json::Value as Json;
use tower::ServiceExt;

mod common;

/// A citizen's directory of `count` workshops of about 1 KB each, the
/// last of them by name "Zz atelier".
fn directory(temp: &tempfile::TempDir, count: usize) -> DataDir {
    let (dir, local) = common::marie(&temp.path().join("home"));
    for n in 0..count {
        let name = if n + 1 == count {
            "Zz atelier".to_owned()
        } else {
            format!("Atelier {n:04}")
        };
        let description = "Réparation de vélos, entraide, pièces d'occasion. ".repeat(20);
        local
            .add(&NewEntity::new(
                Kind::Organization,
                &name,
                vec![Edit::Set(Field::Description, Value::Text(description))],
            ))
            .unwrap();
    }
    dir
}

/// Flips a byte of the cached name "Zz atelier" in the store file (in
/// every copy of it: pages left behind by earlier writes hold some).
fn damage_the_last(dir: &DataDir) {
    let path = dir.store_path();
    let mut bytes = std::fs::read(&path).unwrap();
    let cached = br#""name":"Zz atelier""#;
    let copies: Vec<usize> = bytes
        .windows(cached.len())
        .enumerate()
        .filter(|(_, window)| window == cached)
        .map(|(at, _)| at)
        .collect();
    assert!(!copies.is_empty(), "the cached JSON is in the file");
    for at in copies {
        bytes[at + cached.len() - 2] ^= 0x01;
    }
    std::fs::write(&path, &bytes).unwrap();
}

fn api(dir: DataDir) -> Router {
    let local = Local::open(&dir).unwrap();
    common::api(dir, local)
}

async fn export(router: &Router) -> (StatusCode, Result<Vec<u8>, String>) {
    let request = Request::get("/api/export/json")
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .map(|bytes| bytes.to_vec())
        .map_err(|error| error.to_string());
    (status, body)
}

#[tokio::test]
async fn a_large_export_arrives_whole_and_one_failing_midway_is_cut_short() {
    const COUNT: usize = 300;
    let temp = tempfile::tempdir().unwrap();
    let dir = directory(&temp, COUNT);
    let (status, body) = export(&api(dir.clone())).await;
    assert_eq!(status, StatusCode::OK);
    let body = body.expect("a whole export");
    assert!(
        body.len() > 4 * 64 * 1024,
        "{} bytes: several chunks",
        body.len()
    );
    let json: Json = serde_json::from_slice(&body).unwrap();
    // The workshops and Marie.
    assert_eq!(json["meta"]["count"], COUNT + 1);
    assert_eq!(json["entities"].as_array().map(Vec::len), Some(COUNT + 1));

    // The last entity by name is damaged: the answer began long before.
    damage_the_last(&dir);
    let (status, body) = export(&api(dir)).await;
    assert_eq!(status, StatusCode::OK, "the status went before the failure");
    assert!(body.is_err(), "a cut export must not arrive as a whole one");
}

#[tokio::test]
async fn an_export_failing_before_it_begins_answers_an_error() {
    let temp = tempfile::tempdir().unwrap();
    let dir = directory(&temp, 3);
    damage_the_last(&dir);
    let (status, body) = export(&api(dir)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let error: Json = serde_json::from_slice(&body.unwrap()).unwrap();
    assert_eq!(error["error"]["code"], "damaged", "{error}");
}
