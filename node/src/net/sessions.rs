//! Catch-up sync sessions: which peer a postal key is pulled from, one at
//! a time, the pull of an announced change, and the answers to peers'
//! requests, each on its own task with the store work on tokio's blocking
//! pool.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crdt_model::ids::EntityId;
use libp2p::PeerId;
use libp2p::request_response::{self, ResponseChannel};

use super::client::Done;
use super::event_loop::EventLoop;
use super::postal_key_of;
use crate::store::Origin;
use crate::sync::{self, Request, Response, SyncError, SyncReport};

/// The sync protocol.
pub const SYNC_PROTOCOL: &str = "/communecter/sync/2";

/// Sync requests answered at once at most; beyond, they are refused.
pub(super) const MAX_ANSWERING: usize = 16;

/// A peer is not synced with again for a postal key sooner than this,
/// unless asked.
pub(super) const SYNC_COOLDOWN: Duration = Duration::from_secs(2);

/// Per (peer, postal key), the differing documents pulled and in all.
pub(super) type SessionProgress = HashMap<(PeerId, String), (usize, usize)>;

impl EventLoop {
    /// Starts a sync with every connected peer on every shared postal key.
    pub(super) fn sync_all(&mut self, forced: bool) -> usize {
        let pairs: Vec<(PeerId, String)> = self
            .swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .flat_map(|(peer, topics)| {
                topics
                    .into_iter()
                    .filter_map(|topic| postal_key_of(topic).map(str::to_owned))
                    .map(|key| (*peer, key))
                    .collect::<Vec<_>>()
            })
            .filter(|(_, key)| self.followed.contains(key))
            .collect();
        pairs
            .into_iter()
            .filter(|(peer, key)| self.start_sync(*peer, key.clone(), forced))
            .count()
    }

    /// Starts a pulling session with `peer` on `postal_key`, unless one
    /// runs or (when not `forced`) one ended very recently; while another
    /// peer's session on that key runs, it waits its turn. Returns whether
    /// a session started or waits.
    pub(super) fn start_sync(&mut self, peer: PeerId, postal_key: String, forced: bool) -> bool {
        let pair = (peer, postal_key.clone());
        if self.syncing.contains(&pair) {
            return false;
        }
        if !forced
            && self
                .last_sync
                .get(&pair)
                .is_some_and(|(at, _)| at.elapsed() < SYNC_COOLDOWN)
        {
            return false;
        }
        if self.pulling(&postal_key) {
            let queue = self.queued.entry(postal_key).or_default();
            if queue.contains(&peer) {
                return false;
            }
            queue.push_back(peer);
            return true;
        }
        self.launch_sync(peer, postal_key);
        true
    }

    /// Whether a session pulls `postal_key` now.
    pub(super) fn pulling(&self, postal_key: &str) -> bool {
        self.syncing.iter().any(|(_, key)| key == postal_key)
    }

    /// Starts the next waiting session on `postal_key`, if none runs.
    pub(super) fn next_sync(&mut self, postal_key: &str) {
        if self.pulling(postal_key) {
            return;
        }
        while let Some(peer) = self
            .queued
            .get_mut(postal_key)
            .and_then(VecDeque::pop_front)
        {
            if self.swarm.is_connected(&peer) {
                self.launch_sync(peer, postal_key.to_owned());
                break;
            }
        }
        if self.queued.get(postal_key).is_some_and(VecDeque::is_empty) {
            self.queued.remove(postal_key);
        }
    }

    pub(super) fn launch_sync(&mut self, peer: PeerId, postal_key: String) {
        let pair = (peer, postal_key.clone());
        self.syncing.insert(pair);
        let client = self.client();
        let done = self.done_tx.clone();
        let store = self.store.clone();
        let progress = self.progress.clone();
        tokio::spawn(async move {
            let key = (peer, postal_key.clone());
            let result = sync::pull(
                store,
                postal_key.clone(),
                |request| {
                    let client = client.clone();
                    async move { client.request(peer, request).await }
                },
                |done, total| {
                    if let Ok(mut progress) = progress.lock() {
                        progress.insert(key.clone(), (done, total));
                    }
                },
            )
            .await
            .map_err(|error| error.to_string());
            if let Ok(mut progress) = progress.lock() {
                progress.remove(&key);
            }
            let _ = done
                .send(Done::Synced {
                    peer,
                    postal_key,
                    result,
                })
                .await;
        });
    }

    /// Pulls one document from a peer (an announced change).
    pub(super) fn pull_one(&mut self, peer: PeerId, doc: EntityId) {
        let client = self.client();
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut report = SyncReport::default();
            let _ = sync::pull_documents(
                store,
                Origin::Network,
                vec![doc],
                |request| {
                    let client = client.clone();
                    async move { client.request(peer, request).await }
                },
                &mut report,
                |_, _| {},
            )
            .await;
        });
    }

    pub(super) fn on_sync(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.answer(request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.pending.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(SyncError::Transport(error.to_string())));
                }
            }
            _ => {}
        }
    }

    /// Answers a sync request on the blocking pool, or refuses it when too
    /// many are being answered.
    pub(super) fn answer(&mut self, request: Request, channel: ResponseChannel<Response>) {
        self.sync_requests += 1;
        self.sync_request_bytes += sync::encode(&request).len() as u64;
        let Ok(permit) = self.answering.clone().try_acquire_owned() else {
            let _ = self.swarm.behaviour_mut().sync.send_response(
                channel,
                Response::Refused {
                    reason: "busy, try again later".into(),
                },
            );
            return;
        };
        let store = self.store.clone();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let response = tokio::task::spawn_blocking(move || sync::serve(&store, &request))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(Response::Refused {
                    reason: "the store failed".into(),
                });
            drop(permit);
            let _ = done.send(Done::Answer { channel, response }).await;
        });
    }
}
