//! A full disk: writes are refused clearly while it is full, nothing
//! acknowledged is lost, and writes resume once space is back, without
//! restarting the node. The store lives on a small tmpfs, which needs root
//! to mount: the test says that it skips otherwise.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use support::netns::is_root;
use tower::ServiceExt;

mod common;
use common::TOKEN;

/// A tmpfs of a few MiB, unmounted when dropped.
struct SmallDisk {
    _temp: tempfile::TempDir,
    path: PathBuf,
}

impl SmallDisk {
    fn mount(mib: u32) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mount a tmpfs");
        Self { _temp: temp, path }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Fills what is left of the disk holding `dir` with one file, returned.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        match file.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::StorageFull => break,
            Err(error) => panic!("filling the disk: {error}"),
        }
    }
    // What the last write left: a few bytes at most.
    while let Ok(1..) = file.write(&[0]) {}
    filler
}

async fn send(
    router: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    let body = match body {
        Some(body) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    let response = router
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn workshop(n: usize) -> Value {
    json!({
        "kind": "organization",
        "name": format!("Atelier vélo {n}"),
        "edits": [{"set": ["description", "Réparation de vélos, entraide, pièces d'occasion. ".repeat(20)]}],
    })
}

#[tokio::test]
async fn writes_resume_after_a_full_disk_without_a_restart() {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let disk = SmallDisk::mount(24);
    let (dir, local) = common::marie(&disk.path.join("home"));
    let router = common::api(dir, local);

    let mut acknowledged = Vec::new();
    for n in 0..5 {
        let (status, entity) = send(&router, "POST", "/api/entities", Some(workshop(n))).await;
        assert_eq!(status, StatusCode::CREATED, "{entity}");
        acknowledged.push(entity["id"].as_str().unwrap().to_owned());
    }

    let filler = fill(&disk.path);
    // Writes now fail, clearly, at the latest once the store's free pages
    // are used up; each keeps failing the same way while the disk is full.
    let mut refused = 0;
    for n in 5..400 {
        let (status, body) = send(&router, "POST", "/api/entities", Some(workshop(n))).await;
        match status {
            StatusCode::CREATED => acknowledged.push(body["id"].as_str().unwrap().to_owned()),
            StatusCode::INSUFFICIENT_STORAGE => {
                assert_eq!(body["error"]["code"], "disk_full", "{body}");
                refused += 1;
                if refused == 3 {
                    break;
                }
            }
            other => panic!("a write on a full disk answered {other}: {body}"),
        }
    }
    assert_eq!(refused, 3, "the disk never filled up");
    // Reads still work.
    let (status, list) = send(&router, "GET", "/api/entities", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(acknowledged.len() + 1));

    std::fs::remove_file(filler).unwrap();
    let (status, entity) = send(&router, "POST", "/api/entities", Some(workshop(1000))).await;
    assert_eq!(status, StatusCode::CREATED, "after freeing space: {entity}");
    acknowledged.push(entity["id"].as_str().unwrap().to_owned());
    let id = &acknowledged[0];
    let (status, edited) = send(
        &router,
        "PATCH",
        &format!("/api/entities/{id}"),
        Some(json!({"edits": [{"set": ["name", "Atelier vélo du quartier"]}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");

    let (status, list) = send(&router, "GET", "/api/entities", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entity| entity["id"].as_str())
        .collect();
    for id in &acknowledged {
        assert!(listed.contains(&id.as_str()), "acknowledged {id} is lost");
    }
}
