//! What several test files of the node share: a citizen joined on a data
//! directory, and the API router over it.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use node::api::{ApiState, router};
use node::identity::DataDir;
use node::local::{Join, Local};

/// The write token of the routers made here.
pub(crate) const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// Marie joins, from 97400, on the data directory `home`.
pub(crate) fn marie(home: &Path) -> (DataDir, Local) {
    let dir = DataDir::resolve(Some(home.to_owned())).unwrap();
    let join = Join {
        postal_code: "97400".into(),
        name: Some("Marie".into()),
        ..Join::default()
    };
    let local = Local::init(&dir, &join).unwrap();
    (dir, local)
}

/// The API of `local`, writing with [`TOKEN`].
pub(crate) fn api(dir: DataDir, local: Local) -> Router {
    router(Arc::new(ApiState::new(
        dir,
        TOKEN.into(),
        Some(local),
        "http://127.0.0.1:7878".into(),
    )))
}
