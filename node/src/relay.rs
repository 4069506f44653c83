//! `communecter relay`: a community relay. It runs the same node (store,
//! ingest pipeline, gossip, catch-up sync) for the postal codes it serves,
//! and also a libp2p relay server (so that nodes behind NATs reach each
//! other through it), a rendezvous server (namespace = postal key, so that
//! nodes of a postal code find each other) and Kademlia in server mode. It
//! owns nothing: it holds the same signed, open data as every node, and
//! validates everything it stores like any node.

use std::path::PathBuf;
use std::sync::Arc;

use crdt_model::communes;
use crdt_model::schema::postal_key;

use crate::identity::{DataDir, IdentityError, io, network_seed, write_secret};
use crate::net::{self, NetConfig, NetError, NetStatus};
use crate::store::{Store, StoreError};

/// How to run a relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The data directory (its own store and network key).
    pub dir: DataDir,
    /// What it serves: postal codes (`97400`) or departments (`974`, `2A`).
    pub serve: Vec<String>,
    /// The network; its `relay` limits are those of the relay server.
    pub net: NetConfig,
    /// Also write the addresses to this file, for scripts.
    pub addr_file: Option<PathBuf>,
}

/// Why the relay could not run.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Nothing to serve, or something unknown.
    #[error("{0}")]
    Serve(String),
    /// Files of the data directory.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The network's task ended while the relay served.
    #[error("the relay's network stopped: {0}")]
    Stopped(String),
}

/// The postal keys `specs` stand for: a 5-digit postal code of the
/// communes table, or a department code (2 or 3 characters: `974`, `2A`)
/// for every postal code of its communes.
pub fn served_postal_keys(specs: &[String]) -> Result<Vec<String>, RelayError> {
    if specs.is_empty() {
        return Err(RelayError::Serve(
            "say what the relay serves: --serve 97400 (a postal code) or --serve 974 (a department)"
                .into(),
        ));
    }
    let table = communes::table();
    let mut keys = Vec::new();
    for spec in specs {
        let spec = spec.trim().to_uppercase();
        let found: Vec<&str> = if table.is_known_postal_code(&spec) {
            vec![spec.as_str()]
        } else if (2..=3).contains(&spec.len()) {
            table
                .iter()
                .filter(|commune| commune.department == spec)
                .flat_map(|commune| commune.postal_codes.iter().copied())
                .collect()
        } else {
            Vec::new()
        };
        if found.is_empty() {
            return Err(RelayError::Serve(format!(
                "{spec} is neither a French postal code nor a department code (such as 974 or 2A)"
            )));
        }
        for code in found {
            let key = postal_key(code, "FR");
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

/// A relay that listens and serves until its task is stopped.
pub struct Relay {
    /// The network.
    pub client: net::Client,
    /// The store.
    pub store: Arc<Store>,
    /// The postal keys served.
    pub postal_keys: Vec<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Opens the store, starts the network and writes the address file.
    pub async fn start(config: RelayConfig) -> Result<Self, RelayError> {
        let postal_keys = served_postal_keys(&config.serve)?;
        let mut net = config.net;
        if net.relay.is_none() {
            net.relay = Some(net::RelayLimits::default());
        }
        let dir = &config.dir;
        std::fs::create_dir_all(dir.root()).map_err(io(dir.root()))?;
        let seed = network_seed(dir)?;
        let store = Arc::new(crate::ingest::open(&dir.store_path())?);
        let (client, task) = net::start(store.clone(), seed, net, postal_keys.clone()).await?;
        tracing::info!(postal_codes = postal_keys.len(), "relay started");
        if let Some(path) = &config.addr_file {
            let status = client.status().await?;
            write_secret(path, addresses(&status).as_bytes())?;
        }
        Ok(Self {
            client,
            store,
            postal_keys,
            task,
        })
    }

    /// What the network does.
    pub async fn status(&self) -> Result<NetStatus, NetError> {
        self.client.status().await
    }

    /// Serves until `stop` completes, then stops the network; should the
    /// network's task end first, that is logged and returned as an error.
    pub async fn serve(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), RelayError> {
        tokio::select! {
            () = stop => {
                self.task.abort();
                Ok(())
            }
            ended = &mut self.task => {
                let why = match ended {
                    Ok(()) => "its event loop ended".to_owned(),
                    Err(error) => format!("its event loop failed: {error}"),
                };
                tracing::error!(why, "the relay's network stopped");
                Err(RelayError::Stopped(why))
            }
        }
    }

    /// Stops the network.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// The address file of a relay: its peer id and multiaddrs.
fn addresses(status: &NetStatus) -> String {
    let published = serde_json::json!({
        "peer_id": status.peer_id,
        "listen": status.listen,
        "pid": std::process::id(),
    });
    serde_json::to_string_pretty(&published).expect("JSON of strings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postal_codes_and_departments_expand_to_postal_keys() {
        assert_eq!(served_postal_keys(&["97400".into()]).unwrap(), ["97400"]);
        let reunion = served_postal_keys(&["974".into()]).unwrap();
        assert!(reunion.contains(&"97400".to_owned()) && reunion.contains(&"97410".to_owned()));
        assert!(reunion.iter().all(|key| key.starts_with("974")));
        assert!(reunion.len() > 20, "{reunion:?}");
        let corsica = served_postal_keys(&["2a".into()]).unwrap();
        assert!(corsica.contains(&"20000".to_owned()), "{corsica:?}");
        assert!(served_postal_keys(&[]).is_err());
        assert!(served_postal_keys(&["99999".into()]).is_err());
        assert!(served_postal_keys(&["ABCD".into()]).is_err());
    }
}
