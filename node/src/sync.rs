//! Catch-up sync: two nodes find which documents of a postal code differ
//! with range-based set reconciliation, then one pulls the signed changes it
//! lacks for each of them.
//!
//! Each node holds, per postal key, the sorted set of items (entity id,
//! SHA-256 of the document's sorted heads). The puller sends the
//! fingerprint of the whole id range; the other side answers, per range,
//! nothing (same fingerprint), its items (few of them), or the
//! fingerprints of [`BRANCHES`] sub-ranges; the puller does the same with
//! the answer, and so on. Ranges that agree drop out at once, so the bytes
//! exchanged grow with the number of differing documents and the log of
//! the directory's size, not with the directory. The puller then asks for
//! each differing document by its heads, and ingests the envelopes it gets
//! like any others; when the other side does not know those heads, it
//! answers with its own, and the puller, unless it has them (it is ahead),
//! asks again with the hashes of all its changes. Each node pulls for
//! itself: when two nodes meet, both run a session.
//!
//! The wire format (postcard) is in docs/PROTOCOL.md.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::Arc;

use crdt_model::automerge::ChangeHash;
use crdt_model::ids::EntityId;
use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::ingest::{Origin, Outcome};
use crate::store::{
    ENVELOPES, ROWS, SNAPSHOTS, SYNC_ITEMS, Store, StoreError, envelope_key, load_row, row_bounds,
    row_envelopes,
};

/// Ranges with at most this many items are sent as items, not split.
pub const SMALL_RANGE: usize = 8;
/// Number of sub-ranges a differing range is split into.
pub const BRANCHES: usize = 8;
/// Most request/answer rounds of one reconciliation.
pub const MAX_ROUNDS: usize = 48;
/// Largest sync message, in either direction.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// Most envelope bytes in one answer to a pull (at least one document is
/// always served whole, up to [`MAX_MESSAGE_BYTES`]).
pub const PULL_BUDGET_BYTES: usize = 1024 * 1024;
/// Most documents asked for in one pull.
pub const MAX_PULL_DOCS: usize = 512;

/// A document as reconciliation sees it: its id and the hash of its heads.
pub type Item = ([u8; 16], [u8; 32]);

/// A fingerprint of a set of items: the wrapping sum of their item hashes,
/// and their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Sum of the first 16 bytes of SHA-256(id ‖ heads hash), little-endian.
    pub sum: [u8; 16],
    /// Number of items.
    pub count: u64,
}

/// A range of ids, from `lower` (included) to `upper` (excluded; `None` is
/// the end of the id space), and what is said of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// First id of the range.
    pub lower: [u8; 16],
    /// First id after the range.
    pub upper: Option<[u8; 16]>,
    /// The fingerprint or the items of the sender in that range.
    pub body: Body,
}

/// A range on the wire: `lower` is left out (`None`) when it equals the
/// previous range's `upper`, as it does between the sub-ranges of a split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRange {
    /// First id of the range, unless it follows the previous range.
    pub lower: Option<[u8; 16]>,
    /// First id after the range; `None` is the end of the id space.
    pub upper: Option<[u8; 16]>,
    /// The fingerprint or the items of the sender in that range.
    pub body: Body,
}

/// Ranges as sent.
pub fn pack(ranges: &[Range]) -> Vec<WireRange> {
    let mut previous_upper = None;
    ranges
        .iter()
        .map(|range| {
            let lower = match previous_upper {
                Some(upper) if upper == range.lower => None,
                _ => Some(range.lower),
            };
            previous_upper = range.upper;
            WireRange {
                lower,
                upper: range.upper,
                body: range.body.clone(),
            }
        })
        .collect()
}

/// Ranges as received; a left-out lower bound must follow a bounded range,
/// and every range must be non-empty.
pub fn unpack(ranges: Vec<WireRange>) -> Result<Vec<Range>, SyncError> {
    let mut previous_upper: Option<[u8; 16]> = None;
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges {
        let lower = match range.lower {
            Some(lower) => lower,
            None => previous_upper
                .ok_or_else(|| SyncError::Protocol("a range follows nothing".into()))?,
        };
        if range.upper.is_some_and(|upper| upper <= lower) {
            return Err(SyncError::Protocol("an empty or inverted range".into()));
        }
        previous_upper = range.upper;
        out.push(Range {
            lower,
            upper: range.upper,
            body: range.body,
        });
    }
    Ok(out)
}

/// What a range message carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// The sender's fingerprint of the range.
    Fingerprint(Fingerprint),
    /// The sender's items in the range: all of them, or, in an answer to
    /// items, those the asker does not have.
    Items(Vec<Item>),
}

/// A sync request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// One round of reconciliation for a postal key.
    Reconcile {
        /// The postal key (`97400`, `BE-1000`).
        postal_key: String,
        /// The asker's ranges.
        ranges: Vec<WireRange>,
    },
    /// The envelopes the asker lacks of these documents.
    Pull {
        /// Per document, what the asker has of it.
        docs: Vec<([u8; 16], Have)>,
    },
}

/// What the asker of a pull has of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Have {
    /// Its heads. If the answerer knows them all, it sends the changes that
    /// are not their ancestors; if not, the asker holds changes the
    /// answerer lacks, and the answerer sends its own heads instead
    /// (`unresolved`).
    Heads(Vec<[u8; 32]>),
    /// The hash of every change it has; the answerer sends the others.
    Changes(Vec<[u8; 32]>),
}

/// A sync answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The answerer's ranges for one round; an empty list ends it.
    Reconcile {
        /// Ranges that still differ, with the answerer's body.
        ranges: Vec<WireRange>,
    },
    /// Envelopes the asker lacks.
    Changes {
        /// Signed envelopes.
        envelopes: Vec<Vec<u8>>,
        /// Documents all of whose missing envelopes are included.
        served: Vec<[u8; 16]>,
        /// Documents asked for by heads some of which the answerer does
        /// not know, with the answerer's heads: the asker needs nothing of
        /// them if it has these, and asks again by change hashes if not.
        /// Documents neither served nor unresolved are to be asked for
        /// again.
        unresolved: Vec<([u8; 16], Vec<[u8; 32]>)>,
    },
    /// The request was not acceptable.
    Refused {
        /// Why.
        reason: String,
    },
}

/// Why a sync session failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The peer could not be reached or did not answer.
    #[error("the peer did not answer: {0}")]
    Transport(String),
    /// The peer answered something that does not fit the protocol.
    #[error("the peer broke the sync protocol: {0}")]
    Protocol(String),
}

fn item_hash(item: &Item) -> u128 {
    let mut hasher = sha2::Sha256::new();
    hasher.update(item.0);
    hasher.update(item.1);
    let digest = hasher.finalize();
    u128::from_le_bytes(digest[..16].try_into().expect("16 bytes"))
}

/// The fingerprint of `items`.
pub fn fingerprint(items: &[Item]) -> Fingerprint {
    let sum = items
        .iter()
        .fold(0u128, |sum, item| sum.wrapping_add(item_hash(item)));
    Fingerprint {
        sum: sum.to_le_bytes(),
        count: items.len() as u64,
    }
}

/// The part of sorted `items` in `[lower, upper)`.
fn in_range<'a>(items: &'a [Item], lower: &[u8; 16], upper: &Option<[u8; 16]>) -> &'a [Item] {
    let start = items.partition_point(|item| item.0 < *lower);
    let end = match upper {
        Some(upper) => items.partition_point(|item| item.0 < *upper),
        None => items.len(),
    };
    &items[start..end.max(start)]
}

/// Splits a range of many items into [`BRANCHES`] ranges of about equal
/// counts, each with its fingerprint.
fn split(items: &[Item], lower: [u8; 16], upper: Option<[u8; 16]>) -> Vec<Range> {
    let chunk = items.len().div_ceil(BRANCHES).max(1);
    let parts: Vec<&[Item]> = items.chunks(chunk).collect();
    let mut ranges = Vec::with_capacity(parts.len());
    for (n, part) in parts.iter().enumerate() {
        let part_lower = if n == 0 { lower } else { part[0].0 };
        let part_upper = match parts.get(n + 1) {
            Some(next) => Some(next[0].0),
            None => upper,
        };
        ranges.push(Range {
            lower: part_lower,
            upper: part_upper,
            body: Body::Fingerprint(fingerprint(part)),
        });
    }
    ranges
}

/// What to say of a range whose fingerprints differ: the items if few,
/// else sub-range fingerprints.
fn describe(mine: &[Item], lower: [u8; 16], upper: Option<[u8; 16]>) -> Vec<Range> {
    if mine.len() <= SMALL_RANGE {
        vec![Range {
            lower,
            upper,
            body: Body::Items(mine.to_vec()),
        }]
    } else {
        split(mine, lower, upper)
    }
}

/// The answerer's side of one round: `mine` is its sorted items.
pub fn answer(mine: &[Item], ranges: &[Range]) -> Vec<Range> {
    let mut out = Vec::new();
    for range in ranges {
        let here = in_range(mine, &range.lower, &range.upper);
        match &range.body {
            Body::Fingerprint(theirs) => {
                if fingerprint(here) != *theirs {
                    let few = theirs.count as usize <= SMALL_RANGE;
                    if few {
                        out.push(Range {
                            lower: range.lower,
                            upper: range.upper,
                            body: Body::Items(here.to_vec()),
                        });
                    } else {
                        out.extend(describe(here, range.lower, range.upper));
                    }
                }
            }
            Body::Items(theirs) => {
                let theirs: HashSet<&Item> = theirs.iter().collect();
                let lacking: Vec<Item> = here
                    .iter()
                    .filter(|item| !theirs.contains(item))
                    .copied()
                    .collect();
                if !lacking.is_empty() {
                    out.push(Range {
                        lower: range.lower,
                        upper: range.upper,
                        body: Body::Items(lacking),
                    });
                }
            }
        }
    }
    out
}

/// The puller's side of a reconciliation.
pub struct Reconciliation {
    mine: Vec<Item>,
    need: BTreeSet<[u8; 16]>,
    rounds: usize,
}

impl Reconciliation {
    /// Starts with the puller's sorted items; returns the first ranges.
    pub fn start(mut mine: Vec<Item>) -> (Self, Vec<Range>) {
        mine.sort();
        let first = vec![Range {
            lower: [0; 16],
            upper: None,
            body: Body::Fingerprint(fingerprint(&mine)),
        }];
        (
            Self {
                mine,
                need: BTreeSet::new(),
                rounds: 0,
            },
            first,
        )
    }

    /// Takes the answer to a round; returns the next ranges to send, or
    /// `None` when reconciliation is over.
    pub fn step(&mut self, answer: &[Range]) -> Result<Option<Vec<Range>>, SyncError> {
        self.rounds += 1;
        if self.rounds > MAX_ROUNDS {
            return Err(SyncError::Protocol(format!(
                "reconciliation did not end after {MAX_ROUNDS} rounds"
            )));
        }
        let mut next = Vec::new();
        for range in answer {
            let here = in_range(&self.mine, &range.lower, &range.upper);
            match &range.body {
                Body::Items(theirs) => {
                    let mine: HashSet<&Item> = here.iter().collect();
                    for item in theirs {
                        let inside =
                            item.0 >= range.lower && range.upper.is_none_or(|upper| item.0 < upper);
                        if !inside {
                            return Err(SyncError::Protocol("an item outside its range".into()));
                        }
                        if !mine.contains(item) {
                            self.need.insert(item.0);
                        }
                    }
                }
                Body::Fingerprint(theirs) => {
                    if fingerprint(here) != *theirs {
                        next.extend(describe(here, range.lower, range.upper));
                    }
                }
            }
        }
        Ok((!next.is_empty()).then_some(next))
    }

    /// The documents the other side has in another state (or that this
    /// side lacks).
    pub fn need(&self) -> impl Iterator<Item = EntityId> + '_ {
        self.need.iter().map(|id| EntityId::from_bytes(*id))
    }
}

/// A node passes on by gossip the changes a catch-up sync brought when
/// they are at most this many: a neighbour back from offline, a gossip
/// missed. More is a newcomer's catch-up of what the commune already
/// holds, which gossip would only repeat.
pub const PASS_ON_MAX: usize = 64;

/// What a pulling session did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// The postal key.
    pub postal_key: String,
    /// Reconciliation rounds.
    pub rounds: usize,
    /// Documents found to differ.
    pub differing: usize,
    /// Envelopes received.
    pub received: usize,
    /// Of which newly applied (the rest were known, pending or refused).
    pub applied: usize,
    /// Of which refused.
    pub refused: usize,
    /// The changes newly applied (document, change hash, envelope), when
    /// they were at most [`PASS_ON_MAX`]: the node passes them on by
    /// gossip.
    #[serde(skip)]
    pub fresh: Vec<(EntityId, ChangeHash, Vec<u8>)>,
    /// Bytes of requests sent and answers received, as encoded.
    pub bytes: usize,
    /// Of which reconciliation answers received.
    pub reconcile_received: usize,
    /// Of which pull answers received (the changes themselves).
    pub pull_received: usize,
    /// Documents asked for by heads the peer did not know (this node had
    /// changes the peer lacked).
    pub unresolved: usize,
}

/// Encodes a sync message.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    postcard::to_allocvec(message).expect("sync messages serialize")
}

/// Decodes a sync message, refusing oversized ones.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, SyncError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(SyncError::Protocol(format!(
            "a message of {} bytes; the limit is {MAX_MESSAGE_BYTES}",
            bytes.len()
        )));
    }
    postcard::from_bytes(bytes).map_err(|error| SyncError::Protocol(error.to_string()))
}

impl Store {
    /// The sync items of a postal key, sorted by id.
    pub fn sync_items(&self, postal_key: &str) -> Result<Vec<Item>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(SYNC_ITEMS)?;
        let prefix = [postal_key.as_bytes(), b"/"].concat();
        let mut items = Vec::new();
        for entry in table.range(&prefix[..]..)? {
            let (key, value) = entry?;
            let Some(id) = key.value().strip_prefix(&prefix[..]) else {
                break;
            };
            let (Ok(id), Ok(hash)) = (
                <[u8; 16]>::try_from(id),
                <[u8; 32]>::try_from(value.value()),
            ) else {
                return Err(StoreError::Corrupt("a malformed sync item".into()));
            };
            items.push((id, hash));
        }
        Ok(items)
    }

    /// The heads of a document (none if it is not stored).
    pub fn heads(&self, id: &EntityId) -> Result<Vec<ChangeHash>, StoreError> {
        Ok(self
            .document(id)?
            .map(|doc| doc.get_heads())
            .unwrap_or_default())
    }

    /// Whether every change of `hashes` is stored for a document.
    pub fn has_changes(&self, id: &EntityId, hashes: &[ChangeHash]) -> Result<bool, StoreError> {
        let tx = self.db.begin_read()?;
        let Some(row) = tx.open_table(ROWS)?.get(&id.as_bytes()[..])? else {
            return Ok(hashes.is_empty());
        };
        let table = tx.open_table(ENVELOPES)?;
        for hash in hashes {
            if table
                .get(&envelope_key(row.value(), &hash.0)[..])?
                .is_none()
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The hashes of the changes stored for a document.
    pub fn change_hashes(&self, id: &EntityId) -> Result<Vec<ChangeHash>, StoreError> {
        let tx = self.db.begin_read()?;
        let Some(row) = tx.open_table(ROWS)?.get(&id.as_bytes()[..])? else {
            return Ok(Vec::new());
        };
        let (start, end) = row_bounds(row.value());
        let table = tx.open_table(ENVELOPES)?;
        let mut hashes = Vec::new();
        for entry in table.range(&start[..]..=&end[..])? {
            let (key, _) = entry?;
            let hash: [u8; 32] = key.value()[8..].try_into().expect("40-byte keys");
            hashes.push(ChangeHash(hash));
        }
        Ok(hashes)
    }

    /// Answers a sync request from a peer.
    pub fn answer_sync(&self, request: &Request) -> Result<Response, StoreError> {
        match request {
            Request::Reconcile { postal_key, ranges } => {
                let Ok(ranges) = unpack(ranges.clone()) else {
                    return Ok(Response::Refused {
                        reason: "malformed ranges".into(),
                    });
                };
                let mine = self.sync_items(postal_key)?;
                Ok(Response::Reconcile {
                    ranges: pack(&answer(&mine, &ranges)),
                })
            }
            Request::Pull { docs } => {
                if docs.len() > MAX_PULL_DOCS {
                    return Ok(Response::Refused {
                        reason: format!("at most {MAX_PULL_DOCS} documents per pull"),
                    });
                }
                self.serve_pull(docs)
            }
        }
    }

    fn serve_pull(&self, docs: &[([u8; 16], Have)]) -> Result<Response, StoreError> {
        let tx = self.db.begin_read()?;
        let rows = tx.open_table(ROWS)?;
        let table = tx.open_table(ENVELOPES)?;
        let snapshots = tx.open_table(SNAPSHOTS)?;
        let mut envelopes = Vec::new();
        let mut served = Vec::new();
        let mut unresolved = Vec::new();
        let mut bytes = 0;
        for (id, have) in docs {
            let row = rows.get(&id[..])?.map(|row| row.value());
            let these = match (row, have) {
                (None, Have::Heads(heads)) if !heads.is_empty() => Answer::Heads(Vec::new()),
                (None, _) => Answer::Envelopes(Vec::new()),
                (Some(row), Have::Changes(have)) => {
                    let have: HashSet<&[u8; 32]> = have.iter().collect();
                    let (start, end) = row_bounds(row);
                    let mut these = Vec::new();
                    for entry in table.range(&start[..]..=&end[..])? {
                        let (key, value) = entry?;
                        let hash: &[u8; 32] = key.value()[8..].try_into().expect("40-byte keys");
                        if !have.contains(hash) {
                            these.push(value.value().to_vec());
                        }
                    }
                    Answer::Envelopes(these)
                }
                (Some(row), Have::Heads(heads)) if heads.is_empty() => {
                    Answer::Envelopes(row_envelopes(&table, row)?)
                }
                (Some(row), Have::Heads(heads)) => {
                    let id = EntityId::from_bytes(*id);
                    let doc = load_row(&snapshots, &table, &id, row)?;
                    let heads: Vec<ChangeHash> = heads.iter().map(|h| ChangeHash(*h)).collect();
                    if heads
                        .iter()
                        .all(|h| doc.get_change_meta_by_hash(h).is_some())
                    {
                        let mut these = Vec::new();
                        for change in doc.get_changes_meta(&heads) {
                            let Some(envelope) =
                                table.get(&envelope_key(row, &change.hash.0)[..])?
                            else {
                                return Err(StoreError::Corrupt(format!(
                                    "document {id}: no envelope for change {}",
                                    change.hash
                                )));
                            };
                            these.push(envelope.value().to_vec());
                        }
                        Answer::Envelopes(these)
                    } else {
                        Answer::Heads(doc.get_heads().into_iter().map(|h| h.0).collect())
                    }
                }
            };
            match these {
                Answer::Envelopes(these) => {
                    let these_bytes: usize = these.iter().map(Vec::len).sum();
                    let first = served.is_empty();
                    let fits = bytes + these_bytes <= PULL_BUDGET_BYTES
                        || (first && these_bytes <= MAX_MESSAGE_BYTES / 2);
                    if !fits {
                        break;
                    }
                    bytes += these_bytes;
                    envelopes.extend(these);
                    served.push(*id);
                }
                Answer::Heads(heads) => {
                    bytes += 16 + 32 * heads.len();
                    unresolved.push((*id, heads));
                }
            }
        }
        Ok(Response::Changes {
            envelopes,
            served,
            unresolved,
        })
    }
}

/// What a pull answers for one document.
enum Answer {
    /// The envelopes the asker lacks.
    Envelopes(Vec<Vec<u8>>),
    /// The answerer does not know all the asker's heads: its own heads.
    Heads(Vec<[u8; 32]>),
}

/// Runs `work` on the store on tokio's blocking threads.
async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, SyncError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|error| SyncError::Transport(format!("a store task failed: {error}")))?
        .map_err(SyncError::from)
}

/// Runs a pulling session for `postal_key` against a peer reached through
/// `send`, and ingests what it brings; `progress` hears, after each pull,
/// how many of the differing documents are done, and how many differ.
pub async fn pull<S, F>(
    store: Arc<Store>,
    postal_key: String,
    mut send: S,
    progress: impl Fn(usize, usize),
) -> Result<SyncReport, SyncError>
where
    S: FnMut(Request) -> F,
    F: Future<Output = Result<Response, SyncError>>,
{
    let mut report = SyncReport {
        postal_key: postal_key.clone(),
        ..SyncReport::default()
    };
    let key = postal_key.clone();
    let items = blocking(&store, move |store| store.sync_items(&key)).await?;
    let (mut reconciliation, mut ranges) = Reconciliation::start(items);
    loop {
        let request = Request::Reconcile {
            postal_key: postal_key.clone(),
            ranges: pack(&ranges),
        };
        report.bytes += encode(&request).len();
        let response = send(request).await?;
        let answer = encode(&response).len();
        report.bytes += answer;
        report.reconcile_received += answer;
        report.rounds += 1;
        let Response::Reconcile { ranges: answer } = response else {
            return Err(refusal_or_mismatch(response));
        };
        match reconciliation.step(&unpack(answer)?)? {
            Some(next) => ranges = next,
            None => break,
        }
    }
    let wanted: Vec<EntityId> = reconciliation.need().collect();
    pull_documents(store, Origin::Sync, wanted, send, &mut report, progress).await?;
    Ok(report)
}

/// Pulls from a peer reached through `send` the changes this node lacks
/// of the documents `wanted`, ingests them as coming from `origin`, and
/// counts them in `report`; `progress` hears, after each pull, how many of
/// the documents are done, and how many there are.
///
/// Each document is asked for by its heads; if the peer does not know them
/// all, it answers with its own heads, and the document is asked for again
/// by the hashes of all its changes unless this node has those heads.
pub async fn pull_documents<S, F>(
    store: Arc<Store>,
    origin: Origin,
    mut wanted: Vec<EntityId>,
    mut send: S,
    report: &mut SyncReport,
    progress: impl Fn(usize, usize),
) -> Result<(), SyncError>
where
    S: FnMut(Request) -> F,
    F: Future<Output = Result<Response, SyncError>>,
{
    report.differing = wanted.len();
    progress(0, report.differing);
    // Documents to ask for by change hashes: their heads were not enough.
    let mut by_changes: HashSet<EntityId> = HashSet::new();
    while !wanted.is_empty() {
        let batch: Vec<EntityId> = wanted.iter().take(MAX_PULL_DOCS).copied().collect();
        let asked = batch.clone();
        let fallback = by_changes.clone();
        let docs = blocking(&store, move |store| {
            let mut docs = Vec::with_capacity(asked.len());
            for id in asked {
                let have = if fallback.contains(&id) {
                    Have::Changes(store.change_hashes(&id)?.into_iter().map(|h| h.0).collect())
                } else {
                    Have::Heads(store.heads(&id)?.into_iter().map(|h| h.0).collect())
                };
                docs.push((*id.as_bytes(), have));
            }
            Ok(docs)
        })
        .await?;
        let request = Request::Pull { docs };
        report.bytes += encode(&request).len();
        let response = send(request).await?;
        let answer = encode(&response).len();
        report.bytes += answer;
        report.pull_received += answer;
        let Response::Changes {
            envelopes,
            served,
            unresolved,
        } = response
        else {
            return Err(refusal_or_mismatch(response));
        };
        if served.is_empty() && unresolved.is_empty() {
            return Err(SyncError::Protocol(
                "a pull answered with no document".into(),
            ));
        }
        let asked = |id: &[u8; 16]| batch.iter().any(|asked| asked.as_bytes() == id);
        if !served.iter().all(asked) {
            return Err(SyncError::Protocol(
                "a document that was not asked for".into(),
            ));
        }
        let by_heads =
            |id: &[u8; 16]| asked(id) && !by_changes.contains(&EntityId::from_bytes(*id));
        if !unresolved.iter().all(|(id, _)| by_heads(id)) {
            return Err(SyncError::Protocol(
                "heads for a document not asked for by its heads".into(),
            ));
        }
        report.received += envelopes.len();
        let (outcomes, envelopes, ahead) = blocking(&store, move |store| {
            let outcomes = store.ingest_from(origin, &envelopes)?;
            // The documents the peer could not place whose every head this
            // node has: it is ahead of the peer, and needs nothing.
            let mut ahead = Vec::new();
            for (id, heads) in unresolved {
                let id = EntityId::from_bytes(id);
                let heads: Vec<ChangeHash> = heads.into_iter().map(ChangeHash).collect();
                ahead.push((id, store.has_changes(&id, &heads)?));
            }
            Ok((outcomes, envelopes, ahead))
        })
        .await?;
        for (envelope, outcome) in envelopes.into_iter().zip(&outcomes) {
            if let Outcome::Applied { doc, hash } = outcome {
                report.applied += 1;
                if report.applied <= PASS_ON_MAX {
                    report.fresh.push((*doc, *hash, envelope));
                }
            }
        }
        report.refused += outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Rejected { .. }))
            .count();
        let mut done: HashSet<EntityId> = served.into_iter().map(EntityId::from_bytes).collect();
        for (id, ahead) in ahead {
            report.unresolved += 1;
            if ahead {
                done.insert(id);
            } else {
                by_changes.insert(id);
            }
        }
        wanted.retain(|id| !done.contains(id));
        progress(report.differing - wanted.len(), report.differing);
    }
    Ok(())
}

fn refusal_or_mismatch(response: Response) -> SyncError {
    match response {
        Response::Refused { reason } => SyncError::Protocol(format!("the peer refused: {reason}")),
        _ => SyncError::Protocol("an answer of the wrong kind".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u32, state: u8) -> Item {
        let digest = sha2::Sha256::digest(n.to_le_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        (id, [state; 32])
    }

    /// Runs a whole reconciliation in memory; returns what the puller
    /// needs and the bytes exchanged.
    fn reconcile(puller: Vec<Item>, other: &[Item]) -> (BTreeSet<[u8; 16]>, usize) {
        let mut other = other.to_vec();
        other.sort();
        let (mut session, mut ranges) = Reconciliation::start(puller);
        let mut bytes = 0;
        loop {
            let sent = pack(&ranges);
            bytes += encode(&sent).len();
            let answer = pack(&answer(&other, &unpack(sent).unwrap()));
            bytes += encode(&answer).len();
            match session.step(&unpack(answer).unwrap()).unwrap() {
                Some(next) => ranges = next,
                None => break,
            }
        }
        (session.need.clone(), bytes)
    }

    #[test]
    fn equal_sets_agree_in_one_round() {
        let items: Vec<Item> = (0..10_000).map(|n| item(n, 1)).collect();
        let (need, bytes) = reconcile(items.clone(), &items);
        assert!(need.is_empty());
        assert!(bytes < 100, "{bytes} bytes");
    }

    #[test]
    fn ten_differences_in_ten_thousand_cost_a_few_kilobytes() {
        let theirs: Vec<Item> = (0..10_000).map(|n| item(n, 1)).collect();
        let mut mine = theirs.clone();
        // Five documents changed on their side, five that this side lacks.
        let mut expected = BTreeSet::new();
        for n in [3, 777, 4_242, 6_000, 9_999] {
            mine[n].1 = [2; 32];
            expected.insert(theirs[n].0);
        }
        for n in [10, 20, 30, 40, 50] {
            expected.insert(theirs[n].0);
        }
        mine.retain(|item| ![10, 20, 30, 40, 50].iter().any(|n| item.0 == theirs[*n].0));
        let (need, bytes) = reconcile(mine, &theirs);
        assert_eq!(need, expected);
        // The whole set is 480,000 bytes of items.
        assert!(bytes < 16_000, "{bytes} bytes");
    }

    #[test]
    fn an_empty_side_gets_everything_and_a_full_side_needs_nothing() {
        let theirs: Vec<Item> = (0..1_000).map(|n| item(n, 1)).collect();
        let (need, _) = reconcile(Vec::new(), &theirs);
        assert_eq!(need.len(), 1_000);
        let (need, _) = reconcile(theirs.clone(), &[]);
        assert!(need.is_empty());
    }

    #[test]
    fn items_outside_their_range_are_a_protocol_error() {
        let (mut session, _) = Reconciliation::start(vec![item(1, 1)]);
        let bad = Range {
            lower: [0x80; 16],
            upper: None,
            body: Body::Items(vec![([0x01; 16], [0; 32])]),
        };
        assert!(matches!(session.step(&[bad]), Err(SyncError::Protocol(_))));
        let orphan = WireRange {
            lower: None,
            upper: None,
            body: Body::Items(Vec::new()),
        };
        assert!(unpack(vec![orphan]).is_err());
        let inverted = WireRange {
            lower: Some([9; 16]),
            upper: Some([3; 16]),
            body: Body::Items(Vec::new()),
        };
        assert!(unpack(vec![inverted]).is_err());
    }

    mod wire {
        use proptest::prelude::*;

        use super::super::*;

        fn hashes() -> impl Strategy<Value = Vec<[u8; 32]>> {
            prop::collection::vec(any::<[u8; 32]>(), 0..4)
        }

        fn have() -> impl Strategy<Value = Have> {
            prop_oneof![
                hashes().prop_map(Have::Heads),
                hashes().prop_map(Have::Changes)
            ]
        }

        fn range() -> impl Strategy<Value = WireRange> {
            let body = prop_oneof![
                (any::<[u8; 16]>(), any::<u64>())
                    .prop_map(|(sum, count)| Body::Fingerprint(Fingerprint { sum, count })),
                prop::collection::vec(any::<([u8; 16], [u8; 32])>(), 0..4).prop_map(Body::Items),
            ];
            (
                prop::option::of(any::<[u8; 16]>()),
                prop::option::of(any::<[u8; 16]>()),
                body,
            )
                .prop_map(|(lower, upper, body)| WireRange { lower, upper, body })
        }

        fn request() -> impl Strategy<Value = Request> {
            prop_oneof![
                (".{0,12}", prop::collection::vec(range(), 0..4))
                    .prop_map(|(postal_key, ranges)| Request::Reconcile { postal_key, ranges }),
                prop::collection::vec((any::<[u8; 16]>(), have()), 0..4)
                    .prop_map(|docs| Request::Pull { docs }),
            ]
        }

        fn response() -> impl Strategy<Value = Response> {
            prop_oneof![
                prop::collection::vec(range(), 0..4)
                    .prop_map(|ranges| Response::Reconcile { ranges }),
                (
                    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..4),
                    prop::collection::vec(any::<[u8; 16]>(), 0..4),
                    prop::collection::vec((any::<[u8; 16]>(), hashes()), 0..4),
                )
                    .prop_map(|(envelopes, served, unresolved)| {
                        Response::Changes {
                            envelopes,
                            served,
                            unresolved,
                        }
                    }),
                ".{0,40}".prop_map(|reason| Response::Refused { reason }),
            ]
        }

        proptest! {
            #[test]
            fn every_request_round_trips(request in request()) {
                prop_assert_eq!(decode::<Request>(&encode(&request)).unwrap(), request);
            }

            #[test]
            fn every_response_round_trips(response in response()) {
                prop_assert_eq!(decode::<Response>(&encode(&response)).unwrap(), response);
            }
        }
    }

    #[test]
    fn oversized_and_garbled_messages_are_refused() {
        assert!(decode::<Request>(&[0xff; 10]).is_err());
        assert!(decode::<Request>(&vec![0; MAX_MESSAGE_BYTES + 1]).is_err());
    }
}
