//! Gossip: what a node publishes for a committed change (the envelope, or
//! an announcement when it is too large), and the validation of what it
//! receives, in batches through the ingest pipeline, before gossipsub may
//! forward it.

use std::sync::Arc;

use crdt_model::ids::EntityId;
use crdt_model::signed::SignedChange;
use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use tokio::sync::mpsc;

use super::announce::{Decision, Heard};
use super::budget::Verdict;
use super::client::Done;
use super::event_loop::EventLoop;
use super::{postal_key_of, topic};
use crate::ingest::{self, Fault, Outcome};
use crate::store::{Applied, Origin, Store};

/// Largest gossip message; larger changes are announced and pulled.
pub const GOSSIP_MAX_BYTES: usize = 64 * 1024;

/// Magic of an announcement (a change too large for gossip).
pub const ANNOUNCE_MAGIC: &[u8; 4] = b"CMAN";

/// Gossip messages waiting for validation at most; beyond, they are ignored.
pub(super) const VALIDATION_QUEUE: usize = 1024;

/// Gossip messages validated in one ingest batch at most.
pub(super) const VALIDATION_BATCH: usize = 256;

/// Validates gossip messages through the ingest pipeline, in batches, and
/// reports each verdict to the event loop.
pub(super) async fn validate(
    store: Arc<Store>,
    mut queue: mpsc::Receiver<(MessageId, PeerId, Vec<u8>)>,
    done: mpsc::Sender<Done>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < VALIDATION_BATCH {
            match queue.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let envelopes: Vec<Vec<u8>> = batch.iter().map(|(_, _, data)| data.clone()).collect();
        let store = store.clone();
        let outcomes = tokio::task::spawn_blocking(move || {
            ingest::ingest(&store, Origin::Network, &envelopes)
        })
        .await;
        let verdicts = match outcomes {
            Ok(Ok(outcomes)) => batch
                .into_iter()
                .zip(outcomes)
                .map(|((id, source, _), outcome)| {
                    let (acceptance, fault) = verdict(&outcome);
                    (id, source, acceptance, fault)
                })
                .collect(),
            // The store failed: nothing was decided about these messages.
            _ => batch
                .into_iter()
                .map(|(id, source, _)| (id, source, MessageAcceptance::Ignore, None))
                .collect(),
        };
        if done.send(Done::Validated(verdicts)).await.is_err() {
            return;
        }
    }
}

/// The gossip verdict of an ingest outcome.
pub(super) fn verdict(outcome: &Outcome) -> (MessageAcceptance, Option<Fault>) {
    match outcome {
        Outcome::Applied { .. } => (MessageAcceptance::Accept, None),
        // Known already, or not checkable yet: not forwarded, not held
        // against the sender (sync brings what is missing).
        Outcome::Duplicate { .. } | Outcome::Pending { .. } => (MessageAcceptance::Ignore, None),
        Outcome::Rejected {
            fault: Fault::PendingFull,
            ..
        } => (MessageAcceptance::Ignore, Some(Fault::PendingFull)),
        // The citizen's choice, not the sender's fault: counted, not
        // forwarded, not scored.
        Outcome::Rejected {
            fault: Fault::Blocked,
            ..
        } => (MessageAcceptance::Ignore, Some(Fault::Blocked)),
        Outcome::Rejected { fault, .. } => (MessageAcceptance::Reject, Some(*fault)),
    }
}

/// An announcement of a change too large for gossip: magic, entity id,
/// change hash.
pub(super) fn announcement(doc: &EntityId, hash: &[u8; 32]) -> Vec<u8> {
    [&ANNOUNCE_MAGIC[..], doc.as_bytes(), hash].concat()
}

/// What gossip carries for the change `hash` of `doc`: its envelope, or
/// an announcement when the envelope is too large.
pub(super) fn gossip_data(
    doc: &EntityId,
    hash: &crdt_model::automerge::ChangeHash,
    envelope: &[u8],
) -> Vec<u8> {
    if envelope.len() > GOSSIP_MAX_BYTES {
        announcement(doc, &hash.0)
    } else {
        envelope.to_vec()
    }
}

/// The document and change hash an announcement names.
pub(super) fn parse_announcement(data: &[u8]) -> Option<(EntityId, [u8; 32])> {
    let rest = data.strip_prefix(&ANNOUNCE_MAGIC[..])?;
    let doc: [u8; 16] = rest.get(..16)?.try_into().ok()?;
    let hash: [u8; 32] = rest.get(16..)?.try_into().ok()?;
    Some((EntityId::from_bytes(doc), hash))
}

impl EventLoop {
    pub(super) fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let on_topic = postal_key_of(&message.topic).map(str::to_owned);
                let Some(postal_key) = on_topic.filter(|key| self.followed.contains(key)) else {
                    self.reject(&message_id, &propagation_source, Fault::Malformed);
                    return;
                };
                if message.data.starts_with(&ANNOUNCE_MAGIC[..]) {
                    let Some((doc, hash)) = parse_announcement(&message.data) else {
                        self.reject(&message_id, &propagation_source, Fault::Malformed);
                        return;
                    };
                    // Too large for gossip: pulled from whoever sent the
                    // announcement, and forwarded only once the change is
                    // in the store.
                    let heard = Heard {
                        id: message_id.clone(),
                        source: propagation_source,
                        hash,
                    };
                    match self.announcements.heard(doc, heard) {
                        Decision::Pull => self.pull_announced(propagation_source, doc),
                        Decision::Wait => {}
                        Decision::Ignore => self.report(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                            None,
                        ),
                    }
                    return;
                }
                // The envelope must name the topic it travels on.
                let author = match SignedChange::decode(&message.data) {
                    Ok(envelope) if envelope.postal_key == postal_key => envelope.author,
                    _ => {
                        self.reject(&message_id, &propagation_source, Fault::Malformed);
                        return;
                    }
                };
                // Within its author's and its sender's budgets, or slowed:
                // not validated now, not forwarded, not held against them.
                let now = std::time::Instant::now();
                if self.budgets.admit(propagation_source, author, now) != Verdict::Within {
                    self.slowed += 1;
                    self.report(
                        &message_id,
                        &propagation_source,
                        MessageAcceptance::Ignore,
                        None,
                    );
                    return;
                }
                if self
                    .validate
                    .try_send((message_id.clone(), propagation_source, message.data))
                    .is_err()
                {
                    // Too busy to validate: neither forwarded nor held
                    // against the sender.
                    self.report(
                        &message_id,
                        &propagation_source,
                        MessageAcceptance::Ignore,
                        None,
                    );
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                if let Some(key) = postal_key_of(&topic).filter(|key| self.followed.contains(*key))
                {
                    self.start_sync(peer_id, key.to_owned(), false);
                }
            }
            _ => {}
        }
    }

    /// The pull of an announced document ended: each announcement waiting
    /// for it is forwarded if the change it named is now in the store,
    /// held against its source if the source served the document without
    /// it, and dropped if the pull failed.
    pub(super) fn on_announced(
        &mut self,
        doc: EntityId,
        held: Result<std::collections::HashSet<[u8; 32]>, String>,
    ) {
        for heard in self.announcements.pulled(&doc) {
            let (acceptance, fault) = match &held {
                Ok(held) if held.contains(&heard.hash) => (MessageAcceptance::Accept, None),
                Ok(_) => (MessageAcceptance::Reject, Some(Fault::FalseAnnouncement)),
                Err(_) => (MessageAcceptance::Ignore, None),
            };
            self.report(&heard.id, &heard.source, acceptance, fault);
        }
    }

    /// Refuses a message for `fault`: counted, held against `source`.
    pub(super) fn reject(&mut self, id: &MessageId, source: &PeerId, fault: Fault) {
        self.report(id, source, MessageAcceptance::Reject, Some(fault));
    }

    /// Tells gossipsub what becomes of a message (forwarded, dropped, or
    /// held against its source), counting the fault it had, if any.
    pub(super) fn report(
        &mut self,
        id: &MessageId,
        source: &PeerId,
        acceptance: MessageAcceptance,
        fault: Option<Fault>,
    ) {
        if let Some(fault) = fault {
            tracing::debug!(peer = %source, ?fault, "gossip message rejected");
            *self.rejected.entry(format!("{fault:?}")).or_default() += 1;
        }
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, source, acceptance);
    }

    pub(super) fn on_applied(&mut self, applied: Applied) {
        if applied.kind == Some(crdt_model::schema::Kind::Relay) {
            self.relay_entry_applied(applied.doc);
        }
        if !matches!(applied.origin, Origin::Local | Origin::Import) {
            return;
        }
        let data = gossip_data(&applied.doc, &applied.hash, &applied.envelope);
        self.publish(&applied.postal_key, data);
    }

    pub(super) fn publish(&mut self, postal_key: &str, data: Vec<u8>) {
        // No peer on the topic yet is fine: catch-up sync brings the change
        // to the next peer met.
        let _ = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic(postal_key), data);
    }
}
