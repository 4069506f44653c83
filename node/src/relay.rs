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
use crdt_model::document::{self, Edit, Genesis};
use crdt_model::ed25519_dalek::SigningKey;
use crdt_model::ids::{Actor, AuthorKey};
use crdt_model::schema::{Field, Kind, Value, postal_key};
use crdt_model::signed::SignedChange;

use crate::identity::{DataDir, IdentityError, io, network_seed, random_seed, write_secret};
use crate::ingest::{self, Outcome};
use crate::net::{self, Multiaddr, NetConfig, NetError, NetStatus};
use crate::store::{Filter, Origin, Store, StoreError};

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
    /// The entry to write in each postal code served, so that nodes learn
    /// the relay from any peer; `None` writes none.
    pub entry: Option<RelayEntry>,
}

/// A relay's entry, as it writes it in each postal code it serves (see
/// [`net::relays`]).
#[derive(Debug, Clone)]
pub struct RelayEntry {
    /// Its name, shown to citizens.
    pub name: String,
    /// Addresses written before those it listens on: a DNS name, or a
    /// public address its machine does not see (behind a port forward).
    pub announce: Vec<Multiaddr>,
}

/// The device number of a relay's changes to its entries: the relay is
/// the only writer with its network key.
const ENTRY_DEVICE: u32 = 0;

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
    /// Its entries could not be written.
    #[error("the relay's entry for {postal_key}: {reason}")]
    Entry {
        /// The postal key.
        postal_key: String,
        /// Why.
        reason: String,
    },
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
        let status = client.status().await?;
        if let Some(path) = &config.addr_file {
            write_secret(path, addresses(&status).as_bytes())?;
        }
        if let Some(entry) = config.entry {
            let listen: Vec<Multiaddr> = status
                .listen
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect();
            let text = net::relays::entry_addresses(&entry.announce, &listen);
            if text.is_empty() {
                tracing::warn!(
                    "no address to write in the relay's entries: nodes learn it only from invites and relay lists"
                );
            } else {
                let (store, keys) = (store.clone(), postal_keys.clone());
                let written = tokio::task::spawn_blocking(move || {
                    write_entries(&store, &seed, &keys, &entry.name, &text)
                })
                .await
                .map_err(|error| RelayError::Stopped(error.to_string()))??;
                tracing::info!(written, "relay entries written");
            }
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

/// Writes the relay's entry in each postal key of `keys`, signed with its
/// network key (`seed`): created where it has none, edited where its name
/// or addresses changed. Returns how many were written.
pub fn write_entries(
    store: &Store,
    seed: &[u8; 32],
    keys: &[String],
    name: &str,
    addresses: &str,
) -> Result<usize, RelayError> {
    let signing = SigningKey::from_bytes(seed);
    let actor = Actor {
        author: AuthorKey::of(&signing),
        device: ENTRY_DEVICE,
    };
    let now = crate::local::now_ms();
    let mut written = 0;
    for key in keys {
        let refuse = |reason: String| RelayError::Entry {
            postal_key: key.clone(),
            reason,
        };
        let filter = Filter {
            kind: Some(Kind::Relay),
            postal_key: Some(key.clone()),
            ..Filter::default()
        };
        let mine = store
            .list(&filter)?
            .into_iter()
            .find(|entity| entity.creator == actor.author);
        let set_addresses = Edit::Set(Field::Addresses, Value::Text(addresses.to_owned()));
        let (id, change) = match mine {
            Some(entity)
                if entity.name() == name && entity.text(Field::Addresses) == Some(addresses) =>
            {
                continue;
            }
            Some(entity) => {
                let doc = store
                    .document(&entity.id)?
                    .ok_or_else(|| refuse("listed but not stored".into()))?;
                let edits = [
                    Edit::Set(Field::Name, Value::Text(name.to_owned())),
                    set_addresses,
                ];
                let change = document::edit(&doc, &actor, now, &edits)
                    .map_err(|error| refuse(error.to_string()))?;
                (entity.id, change)
            }
            None => {
                let genesis = Genesis {
                    kind: Kind::Relay,
                    name: name.to_owned(),
                    postal_code: key.clone(),
                    country: "FR".into(),
                    open_edition: None,
                };
                let nonce: [u8; 16] = random_seed()?[..16].try_into().expect("16 bytes");
                let created = document::create(&genesis, &actor, now, nonce, &[set_addresses])
                    .map_err(|error| refuse(error.to_string()))?;
                (created.id, created.change)
            }
        };
        let envelope = SignedChange::sign(&signing, id, key, change.raw_bytes())
            .map_err(|error| refuse(error.to_string()))?;
        let outcome = ingest::ingest(store, Origin::Local, &[envelope.encode()])
            .map_err(|error| refuse(error.to_string()))?
            .pop();
        match outcome {
            Some(outcome) if outcome.is_stored() => written += 1,
            Some(Outcome::Rejected { reason, .. }) => return Err(refuse(reason)),
            other => return Err(refuse(format!("{other:?}"))),
        }
    }
    Ok(written)
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
