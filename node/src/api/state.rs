//! What the API's handlers share: the data directory, the write token, the
//! citizen's node once joined, and the running network, which the daemon
//! starts and hands over; the API only asks it.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::http::{HeaderMap, StatusCode, header};

use super::error::ApiError;
use super::session::{self, Sessions};
use super::web::WebConfig;
use crate::identity::DataDir;
use crate::local::Local;
use crate::net;

/// Told that the node has just joined, with the state (the daemon starts
/// the network then).
type JoinedHook = Box<dyn Fn(Arc<ApiState>) + Send + Sync>;

/// The network as the API sees it.
enum Network {
    /// Not started: the node has not joined, or runs without network.
    Off,
    /// Running.
    Running(net::Client),
    /// Its task ended, and why.
    Stopped(String),
}

/// What the handlers share.
pub struct ApiState {
    dir: DataDir,
    token: String,
    local: RwLock<Option<Arc<Local>>>,
    address: String,
    net: RwLock<Network>,
    /// Called once the node has joined through `POST /api/init`.
    on_joined: Option<JoinedHook>,
    /// How the web map is served.
    web: WebConfig,
    /// The browsers paired to write, and the links waiting to pair one.
    sessions: Mutex<Sessions>,
    /// Turns to export, [`super::MAX_EXPORTS`] at a time.
    exports: Arc<tokio::sync::Semaphore>,
}

impl ApiState {
    /// The state of a node on `dir`, joined (`local`) or not yet, without
    /// network.
    pub fn new(dir: DataDir, token: String, local: Option<Local>, address: String) -> Self {
        Self {
            dir,
            token,
            local: RwLock::new(local.map(Arc::new)),
            address,
            net: RwLock::new(Network::Off),
            on_joined: None,
            web: WebConfig::default(),
            sessions: Mutex::new(Sessions::default()),
            exports: Arc::new(tokio::sync::Semaphore::new(super::MAX_EXPORTS)),
        }
    }

    /// Serves the web map with `web`.
    pub fn with_web(mut self, web: WebConfig) -> Self {
        self.web = web;
        self
    }

    /// Calls `hook` once the node joins through the API.
    pub fn on_joined(mut self, hook: impl Fn(Arc<ApiState>) + Send + Sync + 'static) -> Self {
        self.on_joined = Some(Box::new(hook));
        self
    }

    pub(crate) fn web(&self) -> &WebConfig {
        &self.web
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// Waits for a turn to export; the turn ends when the permit drops.
    pub(super) async fn export_turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        // The semaphore is never closed: `None` cannot happen.
        self.exports.clone().acquire_owned().await.ok()
    }

    /// The data directory.
    pub fn dir(&self) -> &DataDir {
        &self.dir
    }

    /// The API's own address (`http://127.0.0.1:7878`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The citizen's node, once joined.
    pub fn joined(&self) -> Option<Arc<Local>> {
        self.local.read().ok().and_then(|slot| slot.clone())
    }

    /// [`Self::joined`], failing on a poisoned lock rather than taking it
    /// for "not joined".
    pub(super) fn try_joined(&self) -> Result<Option<Arc<Local>>, ApiError> {
        Ok(self
            .local
            .read()
            .map_err(|_| ApiError::internal("state lock poisoned"))?
            .clone())
    }

    /// Takes the node that `join` makes, unless one had joined already.
    pub(super) fn join(
        &self,
        join: impl FnOnce() -> Result<Local, ApiError>,
    ) -> Result<Arc<Local>, ApiError> {
        let local = {
            let mut slot = self.local.write().map_err(|_| ApiError::internal("lock"))?;
            if slot.is_some() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "already_joined",
                    "this node already has an identity",
                ));
            }
            let local = Arc::new(join()?);
            *slot = Some(local.clone());
            local
        };
        Ok(local)
    }

    /// Tells the joined hook, once [`Self::join`] succeeded.
    pub(super) fn joined_now(self: &Arc<Self>) {
        if let Some(hook) = &self.on_joined {
            hook(self.clone());
        }
    }

    /// Hands the running network to the API.
    pub fn set_network(&self, client: net::Client) {
        if let Ok(mut slot) = self.net.write() {
            *slot = Network::Running(client);
        }
    }

    /// Says that the network's task ended, and why.
    pub fn network_stopped(&self, why: String) {
        if let Ok(mut slot) = self.net.write() {
            *slot = Network::Stopped(why);
        }
    }

    /// The running network, if any.
    pub fn network(&self) -> Option<net::Client> {
        match &*self.net.read().ok()? {
            Network::Running(client) => Some(client.clone()),
            _ => None,
        }
    }

    /// Why the network stopped, if it ran and stopped.
    pub fn network_failure(&self) -> Option<String> {
        match &*self.net.read().ok()? {
            Network::Stopped(why) => Some(why.clone()),
            _ => None,
        }
    }

    /// What the network does, if it runs.
    pub async fn network_status(&self) -> Option<net::NetStatus> {
        self.network()?.status().await.ok()
    }

    pub(super) fn local(&self) -> Result<Arc<Local>, ApiError> {
        self.local
            .read()
            .map_err(|_| ApiError::internal("state lock poisoned"))?
            .clone()
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "not_joined",
                    "this node has no identity yet: POST /api/init with your postal code first",
                )
            })
    }

    /// Checks the bearer token of a write.
    /// A new one-time link that lets the browser opening it write through
    /// the web map (see [`session`]); only for a node serving on loopback.
    pub fn pairing_link(&self) -> Result<String, ApiError> {
        if !self.web.loopback {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not_allowed",
                "this node serves its API beyond this computer: the web map there only reads",
            ));
        }
        let code = crdt_model::ids::hex(
            &crate::identity::random_seed()
                .map_err(|error| ApiError::internal(error.to_string()))?,
        );
        self.sessions().add_code(&code, Instant::now());
        Ok(format!("{}/api/pair?code={code}", self.address))
    }

    /// Uses a pairing code: the new session's secret, for the cookie, or
    /// `None` when the code was used, expired or never given.
    pub(super) fn pair(&self, code: &str) -> Result<Option<String>, ApiError> {
        let secret = crdt_model::ids::hex(
            &crate::identity::random_seed()
                .map_err(|error| ApiError::internal(error.to_string()))?,
        );
        Ok(self
            .sessions()
            .pair(code, &secret, Instant::now())
            .then_some(secret))
    }

    /// Whether the request comes from a paired browser (its session
    /// cookie).
    pub(super) fn paired(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(session::cookie_value)
            .any(|value| self.sessions().is_session(value))
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        // The bookkeeping is whole after every call: a poisoned lock is fine.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Lets a write through: the bearer token (the command line, scripts)
    /// or a paired browser's session cookie.
    pub(super) fn authorize_write(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.paired(headers) {
            return Ok(());
        }
        self.authorize_token(headers)
    }

    /// Lets a request through with the bearer token only.
    pub(super) fn authorize_token(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        // Constant-time comparison: the token is a secret.
        let matches = given.is_some_and(|given| {
            given.len() == self.token().len()
                && given
                    .bytes()
                    .zip(self.token().bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if matches {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "writes need the header `Authorization: Bearer <token>`, with the token from the data directory's api.token file (or, in the web map, a browser paired with `communecter web`)",
            ))
        }
    }
}
