//! The handle the rest of the node holds: [`Client`], which sends
//! [`Command`]s to the event loop over a bounded channel; and [`Done`], what
//! the network's own tasks (validation, sessions, answers) report back, on
//! a bounded channel of their own, so that neither waits for the other.

use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::request_response::ResponseChannel;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use super::NetError;
use super::status::NetStatus;
use crate::ingest::Fault;
use crate::sync::{Request, Response, SyncError, SyncReport};

/// Commands queued for the event loop at most.
pub(super) const COMMAND_QUEUE: usize = 256;
/// Reports of the network's own tasks queued for the event loop at most.
pub(super) const DONE_QUEUE: usize = 256;

/// What the rest of the node asks of the network.
pub(super) enum Command {
    Follow(String),
    Dial(Multiaddr, oneshot::Sender<Result<(), NetError>>),
    /// A relay's entry read from the store: its peer and addresses.
    LearnRelay(PeerId, Vec<Multiaddr>),
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, SyncError>>,
    },
    Publish {
        postal_key: String,
        data: Vec<u8>,
    },
    SyncNow(oneshot::Sender<usize>),
    Status(oneshot::Sender<NetStatus>),
}

/// What the network's own tasks report back to the event loop.
pub(super) enum Done {
    /// The answer to a peer's sync request.
    Answer {
        channel: ResponseChannel<Response>,
        response: Response,
    },
    /// Verdicts on gossip messages.
    Validated(Vec<(MessageId, PeerId, MessageAcceptance, Option<Fault>)>),
    /// The pull of an announced document ended: the change hashes the
    /// store then holds for it, or why the pull failed.
    Announced {
        doc: crdt_model::ids::EntityId,
        held: Result<std::collections::HashSet<[u8; 32]>, String>,
    },
    /// A pulling session ended.
    Synced {
        peer: PeerId,
        postal_key: String,
        result: Result<SyncReport, String>,
    },
}

/// The handle the rest of the node uses to talk to the network.
#[derive(Clone)]
pub struct Client {
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) peer_id: PeerId,
}

impl Client {
    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    async fn send(&self, command: Command) -> Result<(), NetError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Follows a postal key: subscribes to its topic and syncs it.
    pub async fn follow(&self, postal_key: &str) -> Result<(), NetError> {
        self.send(Command::Follow(postal_key.to_owned())).await
    }

    /// Dials a peer; returns once the dial started.
    pub async fn dial(&self, address: Multiaddr) -> Result<(), NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Dial(address, reply)).await?;
        answer.await.map_err(|_| NetError::Stopped)?
    }

    /// Sends a sync request to a peer and waits for its answer.
    pub async fn request(&self, peer: PeerId, request: Request) -> Result<Response, SyncError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Request {
            peer,
            request,
            reply,
        })
        .await
        .map_err(|error| SyncError::Transport(error.to_string()))?;
        answer
            .await
            .map_err(|_| SyncError::Transport("the network has stopped".into()))?
    }

    /// Publishes bytes as they are on a postal key's topic. Peers validate
    /// them like any message; this is a tool for tests and diagnostics.
    pub async fn publish_raw(&self, postal_key: &str, data: Vec<u8>) -> Result<(), NetError> {
        self.send(Command::Publish {
            postal_key: postal_key.to_owned(),
            data,
        })
        .await
    }

    /// Starts a sync with every connected peer on every shared postal key
    /// (one peer at a time per key); returns how many sessions started or
    /// wait their turn.
    pub async fn sync_now(&self) -> Result<usize, NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::SyncNow(reply)).await?;
        answer.await.map_err(|_| NetError::Stopped)
    }

    /// What the network is doing.
    pub async fn status(&self) -> Result<NetStatus, NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Status(reply)).await?;
        answer.await.map_err(|_| NetError::Stopped)
    }
}
