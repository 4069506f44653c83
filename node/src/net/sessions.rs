//! Catch-up sync sessions: which peer a postal key is pulled from, one at
//! a time, the pull of an announced change, and the answers to peers'
//! requests, each on its own task with the store work on tokio's blocking
//! pool.

use std::collections::HashMap;
use std::time::Instant;

use crdt_model::ids::EntityId;
use libp2p::PeerId;
use libp2p::request_response::{self, ResponseChannel};

use super::client::Done;
use super::event_loop::EventLoop;
use super::postal_key_of;
use super::schedule::Decision;
use crate::store::Origin;
use crate::sync::{self, Request, Response, SyncError, SyncReport};

/// The sync protocol.
pub const SYNC_PROTOCOL: &str = "/communecter/sync/2";

/// Sync requests answered at once at most; beyond, they are refused.
pub(super) const MAX_ANSWERING: usize = 16;

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

    /// Starts a pulling session with `peer` on `postal_key` if the
    /// schedule allows it now; returns whether it started or waits its
    /// turn.
    pub(super) fn start_sync(&mut self, peer: PeerId, postal_key: String, forced: bool) -> bool {
        match self
            .schedule
            .want(peer, &postal_key, forced, Instant::now())
        {
            Decision::Start => {
                self.launch_sync(peer, postal_key);
                true
            }
            Decision::Queued => true,
            Decision::No => false,
        }
    }

    /// The session with `peer` on `postal_key` ended: the next one waiting
    /// on that key starts.
    pub(super) fn sync_ended(&mut self, peer: PeerId, postal_key: &str) {
        let peers = &self.peers;
        let next = self
            .schedule
            .ended(peer, postal_key, Instant::now(), |peer| {
                peers.is_connected(peer)
            });
        if let Some(next) = next {
            self.launch_sync(next, postal_key.to_owned());
        }
    }

    /// Runs a session the schedule started, on a task of its own.
    fn launch_sync(&mut self, peer: PeerId, postal_key: String) {
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

    /// Pulls an announced document from the peer that announced it, then
    /// tells the event loop which changes the store holds for it.
    pub(super) fn pull_announced(&mut self, peer: PeerId, doc: EntityId) {
        let client = self.client();
        let store = self.store.clone();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let mut report = SyncReport::default();
            let pulled = sync::pull_documents(
                store.clone(),
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
            let held = match pulled {
                Ok(()) => tokio::task::spawn_blocking(move || store.change_hashes(&doc))
                    .await
                    .map_err(|error| error.to_string())
                    .and_then(|hashes| hashes.map_err(|error| error.to_string()))
                    .map(|hashes| hashes.into_iter().map(|hash| hash.0).collect()),
                Err(error) => Err(error.to_string()),
            };
            let _ = done.send(Done::Announced { doc, held }).await;
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
            tracing::debug!("a sync request refused: answering too many");
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
