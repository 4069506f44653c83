//! One client of a citizen's node, in-process or remote: [`Directory`] is
//! what the command line asks, and it is carried out either by the node
//! itself on its store ([`Local`]) or by the running node through its API
//! ([`Remote`]), so that each command is written once.
//! [`open`] picks: the running node's API when a daemon holds the data
//! directory, else the store.

use crdt_model::decide::Decision;
use crdt_model::decide::moderation::Asks;
use crdt_model::document::{Edit, Entity, NewEntity, Relation};
use crdt_model::ids::{AuthorKey, EntityId};

use super::Remote;
use super::types::{
    Following, InviteCode, Joined, JoinedStatus, NetworkDown, NetworkState, Status, StoreStatus,
};
use crate::identity::DataDir;
use crate::local::{Join, Local, LocalError, ModerationReport, TallyReport};
use crate::net::PeerStatus;
use crate::net::invite::Invite;
use crate::opendata::Licence;
use crate::opendata::export::Format;
use crate::opendata::import::{ImportRow, RowOutcome};
use crate::store::{Filter, HistoryEntry};

/// Why a request to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Carried out on the store, it failed.
    #[error(transparent)]
    Local(#[from] LocalError),
    /// The running node refused it; the message says why.
    #[error("{message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error's code (`unknown_entity`, `invalid`…).
        code: String,
        /// What was wrong, and what to do.
        message: String,
    },
    /// The running node's API did not answer.
    #[error(
        "the node's API at {api} is not reachable; is `communecter node` still running? ({error})"
    )]
    Unreachable {
        /// Its address.
        api: String,
        /// What the connection said.
        error: String,
    },
    /// A node holds the data directory but has not said where its API is.
    #[error(
        "a node is running on {dir} but has not published its API address yet; try again in a moment"
    )]
    NotPublished {
        /// The data directory.
        dir: String,
    },
    /// The node answered something this version does not read.
    #[error("the node's API answered {request} with {error}")]
    Unexpected {
        /// The request.
        request: String,
        /// What was wrong with the answer.
        error: String,
    },
    /// An invite code that does not read.
    #[error("{0}")]
    Invite(String),
    /// Asked of the network while no node runs.
    #[error(
        "the node is not running on this data directory: start it with `communecter node` to connect to peers"
    )]
    NotRunning,
}

/// What a citizen asks of their node; see the module doc.
pub trait Directory {
    /// Adds an entity in the citizen's name; returns it as stored.
    fn add(&self, new: &NewEntity) -> Result<Entity, ClientError>;
    /// Edits an entity; returns it as stored.
    fn edit(&self, id: EntityId, edits: &[Edit]) -> Result<Entity, ClientError>;
    /// Links the citizen to an entity.
    fn link(
        &self,
        id: EntityId,
        relation: Relation,
        comment: Option<String>,
    ) -> Result<Entity, ClientError>;
    /// Withdraws the citizen's link.
    fn unlink(&self, id: EntityId, relation: Relation) -> Result<Entity, ClientError>;
    /// Marks an entity deleted.
    fn delete(&self, id: EntityId) -> Result<Entity, ClientError>;
    /// The entities `filter` allows, as the JSON array of them (read into
    /// whole entities or the few fields a table shows).
    fn list_json(&self, filter: &Filter) -> Result<Vec<u8>, ClientError>;
    /// The best `limit` entities matching `text`.
    fn search(&self, text: &str, filter: &Filter, limit: usize)
    -> Result<Vec<Entity>, ClientError>;
    /// One entity.
    fn entity(&self, id: EntityId) -> Result<Entity, ClientError>;
    /// Its changes, in causal order.
    fn history(&self, id: EntityId) -> Result<Vec<HistoryEntry>, ClientError>;
    /// The running node's peers.
    fn peers(&self) -> Result<Vec<PeerStatus>, ClientError>;
    /// Follows another postal code.
    fn follow(&self, postal_code: &str) -> Result<Following, ClientError>;
    /// The directory exported in `format`, written to `out` as it comes.
    fn export(
        &self,
        format: Format,
        filter: &Filter,
        licence: Licence,
        out: &mut dyn std::io::Write,
    ) -> Result<(), ClientError>;
    /// Imports a batch of rows; with `dry_run`, only checks them and says
    /// what would become of each, storing nothing.
    fn import(&self, rows: &[ImportRow], dry_run: bool) -> Result<Vec<RowOutcome>, ClientError>;
    /// Who the citizen is and what the node holds and does.
    fn status(&self) -> Result<Status, ClientError>;
    /// An invite to the running node.
    fn invite(&self) -> Result<InviteCode, ClientError>;
    /// Remembers the node of an invite code, and dials it if the node runs.
    fn join(&self, code: &str) -> Result<Joined, ClientError>;
    /// Makes a decision in a room (`room` for a new proposal, else the
    /// room of the proposal it names); returns the proposal's tally.
    fn decide(
        &self,
        room: Option<EntityId>,
        decision: &Decision,
    ) -> Result<TallyReport, ClientError>;
    /// A proposal's tally; with `verify`, recomputed from the signed
    /// changes.
    fn tally(&self, proposal: &str, verify: bool) -> Result<TallyReport, ClientError>;
    /// Blocks or unblocks an author; returns the authors blocked.
    fn block(&self, author: &AuthorKey, block: bool) -> Result<Vec<String>, ClientError>;
    /// Reports an entity in the citizen's name (`None`: withdraws the
    /// report); a report that flags it opens its moderation proposal.
    fn report(&self, id: EntityId, reason: Option<String>)
    -> Result<ModerationReport, ClientError>;
    /// Where an entity stands in moderation.
    fn moderation(&self, id: EntityId) -> Result<ModerationReport, ClientError>;
    /// Opens a moderation proposal about an entity.
    fn moderate(&self, id: EntityId, asks: Asks) -> Result<ModerationReport, ClientError>;
    /// The moderation queue of a postal key, or of every one held.
    fn moderation_queue(
        &self,
        postal_key: Option<&str>,
    ) -> Result<Vec<ModerationReport>, ClientError>;
}

/// The client of the node on `dir`: its running daemon's API, or else its
/// store, opened here.
pub fn open(dir: &DataDir) -> Result<Box<dyn Directory>, ClientError> {
    if dir.node_running() {
        return Ok(Box::new(Remote::of(dir)?));
    }
    Ok(Box::new(Local::open(dir)?))
}

/// Joins on `dir`: through its running daemon, or on the store; returns the
/// citizen's person entity.
pub fn join(dir: &DataDir, join: &Join) -> Result<Entity, ClientError> {
    if dir.node_running() {
        return Remote::of(dir)?.join(join);
    }
    let local = Local::init(dir, join)?;
    Ok(local.entity(local.profile.person)?)
}

/// Who the citizen is and what the store holds, with the network
/// `offline`: the status a node gives of itself before asking its network.
pub fn joined_status(local: &Local) -> Result<JoinedStatus, LocalError> {
    let counts = local.store.counts()?;
    let bytes = std::fs::metadata(local.dir.store_path())
        .map(|metadata| metadata.len())
        .unwrap_or(0);
    Ok(JoinedStatus {
        joined: true,
        data_dir: local.dir.root().to_path_buf(),
        api: None,
        author: local.identity.author(),
        person: local.profile.person,
        postal_code: local.profile.postal_key(),
        insee_code: local.profile.insee_code.clone(),
        store: StoreStatus {
            bytes,
            documents: counts.documents,
            changes: counts.changes,
            pending: counts.pending,
            quarantined: counts.quarantined,
        },
        follows: local.follows()?,
        network: NetworkState::Not(NetworkDown::Offline),
        network_error: None,
    })
}

impl Directory for Local {
    fn decide(
        &self,
        room: Option<EntityId>,
        decision: &Decision,
    ) -> Result<TallyReport, ClientError> {
        Ok(Local::decide(self, room, decision)?)
    }

    fn tally(&self, proposal: &str, verify: bool) -> Result<TallyReport, ClientError> {
        Ok(Local::tally(self, proposal, verify)?)
    }

    fn block(&self, author: &AuthorKey, block: bool) -> Result<Vec<String>, ClientError> {
        Ok(Local::block(self, author, block)?)
    }

    fn report(
        &self,
        id: EntityId,
        reason: Option<String>,
    ) -> Result<ModerationReport, ClientError> {
        Ok(Local::report_entity(self, id, reason)?)
    }

    fn moderation(&self, id: EntityId) -> Result<ModerationReport, ClientError> {
        Ok(Local::moderation(self, id)?)
    }

    fn moderate(&self, id: EntityId, asks: Asks) -> Result<ModerationReport, ClientError> {
        Ok(Local::moderate(self, id, asks)?)
    }

    fn moderation_queue(
        &self,
        postal_key: Option<&str>,
    ) -> Result<Vec<ModerationReport>, ClientError> {
        Ok(Local::moderation_queue(self, postal_key)?)
    }

    fn add(&self, new: &NewEntity) -> Result<Entity, ClientError> {
        Ok(Local::add(self, new)?)
    }

    fn edit(&self, id: EntityId, edits: &[Edit]) -> Result<Entity, ClientError> {
        Ok(Local::edit(self, id, edits)?)
    }

    fn link(
        &self,
        id: EntityId,
        relation: Relation,
        comment: Option<String>,
    ) -> Result<Entity, ClientError> {
        Ok(Local::link(self, id, relation, comment)?)
    }

    fn unlink(&self, id: EntityId, relation: Relation) -> Result<Entity, ClientError> {
        Ok(Local::unlink(self, id, relation)?)
    }

    fn delete(&self, id: EntityId) -> Result<Entity, ClientError> {
        Ok(Local::delete(self, id)?)
    }

    fn list_json(&self, filter: &Filter) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::new();
        self.write_list_json(filter, &mut out)?;
        Ok(out)
    }

    fn search(
        &self,
        text: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<Entity>, ClientError> {
        Ok(Local::search(self, text, filter, limit)?)
    }

    fn entity(&self, id: EntityId) -> Result<Entity, ClientError> {
        Ok(Local::entity(self, id)?)
    }

    fn history(&self, id: EntityId) -> Result<Vec<HistoryEntry>, ClientError> {
        Ok(Local::history(self, id)?)
    }

    fn peers(&self) -> Result<Vec<PeerStatus>, ClientError> {
        Err(ClientError::NotRunning)
    }

    fn follow(&self, postal_code: &str) -> Result<Following, ClientError> {
        let following = Local::follow(self, postal_code)?;
        Ok(Following {
            following,
            postal_codes: self.postal_keys()?,
        })
    }

    fn export(
        &self,
        format: Format,
        filter: &Filter,
        licence: Licence,
        out: &mut dyn std::io::Write,
    ) -> Result<(), ClientError> {
        Local::export(self, format, filter, licence, out)?;
        Ok(())
    }

    fn import(&self, rows: &[ImportRow], dry_run: bool) -> Result<Vec<RowOutcome>, ClientError> {
        Ok(if dry_run {
            Local::check_import(self, rows)?
        } else {
            Local::import(self, rows)?
        })
    }

    fn invite(&self) -> Result<InviteCode, ClientError> {
        Err(ClientError::NotRunning)
    }

    fn join(&self, code: &str) -> Result<Joined, ClientError> {
        let invite =
            Invite::decode(code).map_err(|error| ClientError::Invite(error.to_string()))?;
        self.accept_invite(&invite)?;
        Ok(Joined {
            invite,
            dialled: false,
        })
    }

    fn status(&self) -> Result<Status, ClientError> {
        Ok(Status::Joined(Box::new(joined_status(self)?)))
    }
}
