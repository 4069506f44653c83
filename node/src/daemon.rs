//! The node daemon: owns the data directory, serves the local API, stops
//! cleanly on Ctrl-C or SIGTERM.
//!
//! Files it manages in the data directory:
//!
//! | file | what |
//! |---|---|
//! | `node.lock` | held (OS file lock) while a daemon runs: a second one fails fast |
//! | `api.token` | the bearer token for writes, new at every start (mode 0600) |
//! | `api.json` | `{"api": "http://127.0.0.1:7878", "pid": …}` while running, for the CLI |

use std::fs::File;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::api::{ApiState, router};
use crate::identity::{DataDir, IdentityError, io, random_seed, write_secret};
use crate::local::{Local, LocalError};
use crate::net::{self, NetConfig, NetError, NetStatus};

/// Default address of the local API.
pub const DEFAULT_API: &str = "127.0.0.1:7878";

/// How to run the daemon.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The data directory.
    pub dir: DataDir,
    /// Where the local API listens (port 0 picks a free port).
    pub api: SocketAddr,
    /// Allow a non-loopback API address.
    pub api_public: bool,
    /// Also write the addresses to this file, for scripts.
    pub addr_file: Option<PathBuf>,
    /// The network, once joined; `None` runs the node without it.
    pub net: Option<NetConfig>,
    /// Map tiles of the web page (a URL template), and their credit.
    pub tiles: Option<(String, String)>,
}

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A non-loopback API address without `--api-public`.
    #[error(
        "refusing to serve the local API on {0}: it is meant for this computer only; use a 127.0.0.1 address, or pass --api-public if you really want it reachable from the network"
    )]
    PublicApi(SocketAddr),
    /// Another daemon holds the data directory.
    #[error(
        "another node is already running on {dir}{api}; stop it first, or use another --data-dir"
    )]
    AlreadyRunning {
        /// The data directory.
        dir: String,
        /// Its API address, if known.
        api: String,
    },
    /// The API address is taken.
    #[error("cannot listen on {address}: {error}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// Keys, store or profile.
    #[error(transparent)]
    Local(#[from] LocalError),
    /// Files of the data directory.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The network could not start.
    #[error(transparent)]
    Net(#[from] NetError),
}

/// A daemon that has bound its address and is ready to serve.
pub struct Daemon {
    config: DaemonConfig,
    listener: tokio::net::TcpListener,
    state: Arc<ApiState>,
    address: SocketAddr,
    _lock: File,
}

impl Daemon {
    /// Takes the data directory, opens the store if the citizen has joined,
    /// writes a fresh token and binds the API address.
    pub async fn start(config: DaemonConfig) -> Result<Self, DaemonError> {
        if !config.api.ip().is_loopback() && !config.api_public {
            return Err(DaemonError::PublicApi(config.api));
        }
        let dir = &config.dir;
        std::fs::create_dir_all(dir.root()).map_err(io(dir.root()))?;
        let lock_path = dir.node_lock();
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        if !lock_soon(&lock) {
            return Err(DaemonError::AlreadyRunning {
                dir: dir.root().display().to_string(),
                api: dir
                    .published_api()
                    .map(|api| format!(" (its API: {api})"))
                    .unwrap_or_default(),
            });
        }
        let local = if dir.is_initialized() {
            Some(Local::open(dir)?)
        } else {
            None
        };
        let token = crdt_model::ids::hex(&random_seed()?);
        write_secret(&dir.token_file(), format!("{token}\n").as_bytes())?;
        let listener = tokio::net::TcpListener::bind(config.api)
            .await
            .map_err(|error| DaemonError::Bind {
                address: config.api,
                error,
            })?;
        let address = listener.local_addr().map_err(|error| DaemonError::Bind {
            address: config.api,
            error,
        })?;
        let api = format!("http://{address}");
        let mut web = crate::api::web::WebConfig {
            // A page served beyond this computer must not hand out the
            // right to write.
            loopback: address.ip().is_loopback(),
            ..crate::api::web::WebConfig::default()
        };
        if let Some((tiles, attribution)) = config.tiles.clone() {
            web.tiles = tiles;
            web.tiles_attribution = attribution;
        }
        let mut state = ApiState::new(dir.clone(), token, local, api.clone()).with_web(web);
        let networking = config.net.clone().map(|config_net| {
            Arc::new(Networking {
                config: config_net,
                dir: dir.clone(),
                addr_file: config.addr_file.clone(),
                api: api.clone(),
            })
        });
        if let Some(networking) = networking.clone() {
            state = state.on_joined(move |state| {
                let networking = networking.clone();
                tokio::spawn(async move {
                    if let Err(error) = networking.start(&state).await {
                        tracing::error!(%error, "the network could not start");
                    }
                });
            });
        }
        let state = Arc::new(state);
        publish(dir, config.addr_file.as_deref(), &api, None)?;
        tracing::info!(%api, data_dir = %dir.root().display(), joined = state.joined().is_some(), "node started");
        if let Some(networking) = &networking {
            networking.start(&state).await?;
        }
        Ok(Self {
            config,
            listener,
            state,
            address,
            _lock: lock,
        })
    }

    /// The address the API listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The state its API serves, to watch the network while it runs.
    pub fn state(&self) -> Arc<ApiState> {
        self.state.clone()
    }

    /// What the network does, if it runs.
    pub async fn network(&self) -> Option<NetStatus> {
        self.state.network_status().await
    }

    /// Serves until `shutdown` completes, then finishes the requests in
    /// flight and removes `api.json`.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), DaemonError> {
        let app = router(self.state.clone());
        let limits = crate::api::serve::Limits::default();
        let result = crate::api::serve::serve(self.listener, app, limits, shutdown).await;
        let _ = std::fs::remove_file(self.config.dir.api_file());
        let _ = std::fs::remove_file(self.config.dir.token_file());
        tracing::info!("node stopped");
        result.map_err(|error| DaemonError::Bind {
            address: self.address,
            error,
        })
    }
}

/// How the daemon runs the network once the node has joined: the daemon
/// owns its life, the API only asks it.
struct Networking {
    config: NetConfig,
    dir: DataDir,
    addr_file: Option<PathBuf>,
    api: String,
}

impl Networking {
    /// Starts the network if the node has joined and it does not run yet,
    /// hands it to the API, publishes the node's addresses, and watches
    /// its task: should it end, the failure is logged and shown in the
    /// status.
    async fn start(&self, state: &Arc<ApiState>) -> Result<(), NetError> {
        let Some(local) = state.joined() else {
            return Ok(());
        };
        if state.network().is_some() {
            return Ok(());
        }
        let postal_keys = local.postal_keys().map_err(|error| {
            NetError::Setup(format!("reading the followed postal codes: {error}"))
        })?;
        let (client, task) = net::start(
            local.store.clone(),
            local.identity.network_seed,
            self.config.clone(),
            postal_keys,
        )
        .await?;
        let status = client.status().await?;
        state.set_network(client);
        tracing::info!(peer_id = %status.peer_id, listen = ?status.listen, "network started");
        if let Err(error) = publish(
            &self.dir,
            self.addr_file.as_deref(),
            &self.api,
            Some(&status),
        ) {
            tracing::warn!(%error, "cannot write the node's addresses");
        }
        let watched = state.clone();
        tokio::spawn(async move {
            let why = match task.await {
                Ok(()) => "the network's event loop ended".to_owned(),
                Err(error) => format!("the network's event loop failed: {error}"),
            };
            tracing::error!(why, "the network stopped");
            watched.network_stopped(why);
        });
        Ok(())
    }
}

/// Writes `api.json` (and the address file, if any): the API address, the
/// process id, the data directory and, once the network runs, the peer id
/// and listen addresses.
fn publish(
    dir: &DataDir,
    addr_file: Option<&std::path::Path>,
    api: &str,
    net: Option<&NetStatus>,
) -> Result<(), IdentityError> {
    let mut published = serde_json::json!({
        "api": api,
        "pid": std::process::id(),
        "data_dir": dir.root(),
    });
    if let Some(net) = net {
        published["peer_id"] = serde_json::json!(net.peer_id);
        published["listen"] = serde_json::json!(net.listen);
    }
    let text = serde_json::to_string_pretty(&published).expect("JSON of strings");
    write_secret(&dir.api_file(), text.as_bytes())?;
    if let Some(path) = addr_file {
        write_secret(path, text.as_bytes())?;
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Takes `lock` exclusively, waiting a moment for commands that are only
/// asking whether a node runs (they hold it shared for an instant); false
/// when a node holds it.
fn lock_soon(lock: &File) -> bool {
    for _ in 0..20 {
        match lock.try_lock() {
            Ok(()) => return true,
            Err(std::fs::TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(std::fs::TryLockError::Error(_)) => return false,
        }
    }
    false
}
