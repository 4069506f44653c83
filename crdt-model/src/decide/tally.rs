//! Reading proposals back, and the tally: the closing that counts, the
//! votes in its causal past, from voters who took part as of that point.

use std::collections::BTreeMap;

use automerge::{Automerge, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use serde::{Deserialize, Serialize};

use crate::document::key as doc_key;
use crate::ids::{AuthorKey, EntityId};

use super::{BLANK, DEFAULT_MAJORITY, Phase, Stage, Who, YES_NO, author_of, key};

/// Reads of a document at some point of its history: the current state, or
/// a change's dependencies (authorization's view).
pub(crate) trait Reader {
    /// The map at `name` of `obj`.
    fn map(&self, obj: &ObjId, name: &str) -> Option<ObjId>;
    /// The scalar at `name` of `obj`.
    fn scalar(&self, obj: &ObjId, name: &str) -> Option<ScalarValue>;
    /// The keys of the map `obj`.
    fn keys_of(&self, obj: &ObjId) -> Vec<String>;

    /// The text at `name` of `obj`.
    fn text(&self, obj: &ObjId, name: &str) -> Option<String> {
        match self.scalar(obj, name)? {
            ScalarValue::Str(text) => Some(text.to_string()),
            _ => None,
        }
    }

    /// The timestamp (ms) at `name` of `obj`.
    fn time(&self, obj: &ObjId, name: &str) -> Option<i64> {
        match self.scalar(obj, name)? {
            ScalarValue::Timestamp(ms) | ScalarValue::Int(ms) => Some(ms),
            _ => None,
        }
    }

    /// Whether `name` of `obj` is `true`.
    fn flag(&self, obj: &ObjId, name: &str) -> bool {
        self.scalar(obj, name) == Some(ScalarValue::Boolean(true))
    }
}

impl Reader for Automerge {
    fn map(&self, obj: &ObjId, name: &str) -> Option<ObjId> {
        match self.get(obj, name).ok().flatten()? {
            (automerge::Value::Object(ObjType::Map), id) => Some(id),
            _ => None,
        }
    }

    fn scalar(&self, obj: &ObjId, name: &str) -> Option<ScalarValue> {
        match self.get(obj, name).ok().flatten()? {
            (automerge::Value::Scalar(value), _) => Some(value.into_owned()),
            _ => None,
        }
    }

    fn keys_of(&self, obj: &ObjId) -> Vec<String> {
        self.keys(obj).collect()
    }
}

/// Where the proposal `obj` stands.
pub(crate) fn phase_of(reader: &dyn Reader, obj: &ObjId) -> Phase {
    let closed = |stage: Stage| {
        reader
            .map(obj, key::CLOSINGS)
            .and_then(|closings| reader.map(&closings, stage.as_str()))
            .is_some_and(|closers| !reader.keys_of(&closers).is_empty())
    };
    if closed(Stage::Vote) {
        Phase::Closed
    } else if reader.flag(obj, key::VOTE_OPEN) {
        Phase::Voting
    } else if reader.time(obj, key::AMEND_UNTIL).is_some() && !closed(Stage::Amendments) {
        Phase::Amending
    } else {
        Phase::Folding
    }
}

/// The room's admins (its creator when the map is empty).
pub(crate) fn admins(reader: &dyn Reader) -> Vec<String> {
    let mut admins: Vec<String> = reader
        .map(&ROOT, doc_key::ADMINS)
        .map(|map| {
            reader
                .keys_of(&map)
                .into_iter()
                .filter(|name| reader.flag(&map, name))
                .collect()
        })
        .unwrap_or_default();
    if admins.is_empty()
        && let Some(creator) = reader.text(&ROOT, doc_key::CREATOR)
    {
        admins.push(creator);
    }
    admins
}

/// Whether `author` takes part in the room's decisions, as `reader` sees
/// the room. `citizen` answers for a room of the postal code's citizens;
/// authorization passes `None` (it cannot read people's profiles) and
/// lets them through, the tally passes the caller's answer.
pub(crate) fn takes_part(
    reader: &dyn Reader,
    author: &str,
    citizen: Option<&dyn Fn(&AuthorKey) -> bool>,
) -> bool {
    if admins(reader).iter().any(|admin| admin == author) {
        return true;
    }
    match Who::of(reader.text(&ROOT, "who").as_deref()) {
        Who::Anyone => true,
        Who::Citizens => match citizen {
            None => true,
            Some(citizen) => author.parse().is_ok_and(|key: AuthorKey| citizen(&key)),
        },
        Who::Members => reader
            .map(&ROOT, doc_key::LINKS)
            .and_then(|links| reader.map(&links, author))
            .is_some_and(|slot| reader.map(&slot, "member").is_some()),
        Who::ConfirmedMembers => reader
            .map(&ROOT, doc_key::CONFIRMED)
            .is_some_and(|confirmed| reader.flag(&confirmed, author)),
    }
}

/// A proposal as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// Its id (`<proposer key>.<16 hex>`).
    pub id: String,
    /// Who proposed it.
    pub proposer: AuthorKey,
    /// Its title.
    pub title: String,
    /// Its text.
    pub text: String,
    /// Its choices (yes, no when it lists none); `blank` is always possible.
    pub choices: Vec<String>,
    /// Percent of the expressed votes a choice needs, strictly more.
    pub majority: u8,
    /// Least number of counted votes.
    pub quorum: Option<u32>,
    /// Declared end of the amendment period (ms).
    pub amend_until: Option<i64>,
    /// Declared end of the vote (ms).
    pub vote_until: Option<i64>,
    /// Whether a voter may change their vote.
    pub votes_can_change: bool,
    /// Whether pages show who voted what (they are public data either way).
    pub names_shown: bool,
    /// In a moderation room: the entity it would hide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderates: Option<EntityId>,
    /// In a moderation room: the hidden entity it would show again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restores: Option<EntityId>,
    /// When it was made (ms, by its proposer's clock).
    pub at: i64,
    /// Where it stands.
    pub phase: Phase,
    /// Its amendments, oldest first.
    pub amendments: Vec<Amendment>,
    /// The actions that follow it once adopted, oldest first.
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// An action following an adopted proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Its id (`<author key>.<16 hex>`).
    pub id: String,
    /// Who added it.
    pub author: AuthorKey,
    /// What is to be done.
    pub title: String,
    /// When it starts (ms).
    pub start: Option<i64>,
    /// When it ends (ms).
    pub end: Option<i64>,
    /// When it was added (ms, by its author's clock).
    pub at: i64,
    /// Where it stands.
    pub status: super::ActionStatus,
    /// Who volunteered (and did not withdraw), by key.
    pub volunteers: Vec<AuthorKey>,
}

/// An amendment to a proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Amendment {
    /// Its id (`<author key>.<16 hex>`).
    pub id: String,
    /// Who wrote it.
    pub author: AuthorKey,
    /// Its text.
    pub text: String,
    /// When (ms, by its author's clock).
    pub at: i64,
}

fn proposals_map(doc: &Automerge) -> Option<ObjId> {
    Reader::map(doc, &ROOT, doc_key::PROPOSALS)
}

fn read_proposal(doc: &Automerge, proposals: &ObjId, id: &str) -> Option<Proposal> {
    read_proposal_at(doc, &Reader::map(doc, proposals, id)?, id)
}

/// The proposal `id` whose map is `obj`.
fn read_proposal_at(doc: &Automerge, obj: &ObjId, id: &str) -> Option<Proposal> {
    let obj = obj.clone();
    let proposer = author_of(id)?;
    let choices = match Reader::text(doc, &obj, key::CHOICES) {
        Some(text) => text.split('\n').map(str::to_owned).collect(),
        None => YES_NO.map(str::to_owned).to_vec(),
    };
    let uint = |name: &str| match Reader::scalar(doc, &obj, name) {
        Some(ScalarValue::Uint(n)) => Some(n),
        _ => None,
    };
    let mut amendments: Vec<Amendment> = Reader::map(doc, &obj, key::AMENDMENTS)
        .map(|map| {
            doc.keys_of(&map)
                .into_iter()
                .filter_map(|aid| {
                    let amendment = Reader::map(doc, &map, &aid)?;
                    Some(Amendment {
                        author: author_of(&aid)?,
                        text: Reader::text(doc, &amendment, key::TEXT).unwrap_or_default(),
                        at: doc.time(&amendment, key::AT).unwrap_or_default(),
                        id: aid,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    amendments.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    let mut actions: Vec<Action> = Reader::map(doc, &obj, key::ACTIONS)
        .map(|map| {
            doc.keys_of(&map)
                .into_iter()
                .filter_map(|aid| {
                    let action = Reader::map(doc, &map, &aid)?;
                    let volunteers = Reader::map(doc, &action, key::VOLUNTEERS)
                        .map(|volunteers| {
                            doc.keys_of(&volunteers)
                                .into_iter()
                                .filter(|key| doc.flag(&volunteers, key))
                                .filter_map(|key| key.parse().ok())
                                .collect()
                        })
                        .unwrap_or_default();
                    Some(Action {
                        author: author_of(&aid)?,
                        title: Reader::text(doc, &action, key::TITLE).unwrap_or_default(),
                        start: doc.time(&action, key::START),
                        end: doc.time(&action, key::END),
                        at: doc.time(&action, key::AT).unwrap_or_default(),
                        status: Reader::text(doc, &action, key::STATUS)
                            .and_then(|text| super::ActionStatus::of(&text))
                            .unwrap_or(super::ActionStatus::Todo),
                        volunteers,
                        id: aid,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    actions.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    Some(Proposal {
        id: id.to_owned(),
        proposer,
        title: Reader::text(doc, &obj, key::TITLE).unwrap_or_default(),
        text: Reader::text(doc, &obj, key::TEXT).unwrap_or_default(),
        choices,
        majority: uint(key::MAJORITY)
            .and_then(|n| u8::try_from(n).ok())
            .unwrap_or(DEFAULT_MAJORITY),
        quorum: uint(key::QUORUM).and_then(|n| u32::try_from(n).ok()),
        amend_until: doc.time(&obj, key::AMEND_UNTIL),
        vote_until: doc.time(&obj, key::VOTE_UNTIL),
        votes_can_change: doc.flag(&obj, key::VOTES_CAN_CHANGE),
        names_shown: doc.flag(&obj, key::NAMES_SHOWN),
        moderates: Reader::text(doc, &obj, key::MODERATES).and_then(|id| id.parse().ok()),
        restores: Reader::text(doc, &obj, key::RESTORES).and_then(|id| id.parse().ok()),
        at: doc.time(&obj, key::AT).unwrap_or_default(),
        phase: phase_of(doc, &obj),
        amendments,
        actions,
    })
}

/// The proposals of a room, newest first; empty for another entity.
pub fn proposals(doc: &Automerge) -> Vec<Proposal> {
    let Some(map) = proposals_map(doc) else {
        return Vec::new();
    };
    let mut all: Vec<Proposal> = doc
        .keys_of(&map)
        .into_iter()
        .filter_map(|id| read_proposal(doc, &map, &id))
        .collect();
    all.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
    all
}

/// One proposal of a room.
pub fn proposal(doc: &Automerge, id: &str) -> Option<Proposal> {
    read_proposal(doc, &proposals_map(doc)?, id)
}

/// The closing that ends a phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Closing {
    /// Who closed it.
    pub by: AuthorKey,
    /// The closing change (the lowest hash among concurrent closings).
    pub change: String,
    /// The time the closer wrote (ms, by their clock: it explains, it
    /// does not decide).
    pub at: i64,
    /// How many closings were written for this phase (more than one when
    /// closers did not see each other's).
    pub closings: usize,
}

/// A vote the tally counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ballot {
    /// The voter.
    pub voter: AuthorKey,
    /// Their choice, or `blank`.
    pub choice: String,
}

/// Why a vote in the document was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftOut {
    /// Written after the closing (not in its causal past).
    AfterClosing,
    /// The voter did not take part as of the closing.
    NotEligible,
}

/// What an amendment's vote gave, once amendments are closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmendmentTally {
    /// The amendment's id.
    pub id: String,
    /// Counted yes, no and blank votes.
    pub yes: u64,
    /// Counted no votes.
    pub no: u64,
    /// Counted blank votes.
    pub blank: u64,
    /// Whether it was adopted (the proposal's majority of yes among yes and
    /// no); `None` while amendments are open.
    pub adopted: Option<bool>,
}

/// The outcome of a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "choice")]
pub enum Outcome {
    /// The vote is not closed.
    Open,
    /// Fewer counted votes than the quorum.
    QuorumNotReached,
    /// Yes had the majority of the expressed votes.
    Adopted,
    /// Yes did not.
    Rejected,
    /// This choice had the majority.
    Chosen(String),
    /// No choice had the majority.
    NoMajority,
}

/// The tally of a proposal, the same on every node holding the same
/// changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// The proposal as it stands.
    pub proposal: Proposal,
    /// The closing of the vote, when closed.
    pub closing: Option<Closing>,
    /// The votes counted (all current ones while the vote is open), by voter.
    pub counted: Vec<Ballot>,
    /// Votes in the document that are not counted, and why.
    pub left_out: Vec<(AuthorKey, LeftOut)>,
    /// Counted votes by choice, each choice of the proposal and `blank`.
    pub counts: BTreeMap<String, u64>,
    /// The outcome.
    pub outcome: Outcome,
    /// The closing of the amendments, when closed.
    pub amendments_closing: Option<Closing>,
    /// Each amendment's votes.
    pub amendments: Vec<AmendmentTally>,
}

/// The closing of `stage` of the proposal `id` in `doc`: among the
/// closings written, the one whose change has the lowest hash.
fn closing(doc: &Automerge, obj: &ObjId, stage: Stage) -> Option<(Closing, ChangeHash)> {
    let closers = Reader::map(doc, obj, key::CLOSINGS)
        .and_then(|closings| Reader::map(doc, &closings, stage.as_str()))?;
    let mut found: Vec<(ChangeHash, AuthorKey, i64)> = Vec::new();
    for closer in doc.keys_of(&closers) {
        let Ok(by) = closer.parse::<AuthorKey>() else {
            continue;
        };
        for (value, op) in doc.get_all(&closers, closer.as_str()).unwrap_or_default() {
            let at = match value {
                automerge::Value::Scalar(scalar) => match scalar.as_ref() {
                    ScalarValue::Timestamp(ms) => *ms,
                    _ => 0,
                },
                _ => 0,
            };
            if let Some(hash) = doc.hash_for_opid(&op) {
                found.push((hash, by, at));
            }
        }
    }
    let count = found.len();
    let (hash, by, at) = found.into_iter().min_by_key(|(hash, _, _)| *hash)?;
    Some((
        Closing {
            by,
            change: super::hash_text(&hash),
            at,
            closings: count,
        },
        hash,
    ))
}

/// The votes of the map at `path` (from the proposal) in `doc`, by voter.
fn votes_in(doc: &Automerge, obj: &ObjId, path: &[&str]) -> BTreeMap<String, String> {
    let mut map = obj.clone();
    for name in path {
        match Reader::map(doc, &map, name) {
            Some(next) => map = next,
            None => return BTreeMap::new(),
        }
    }
    doc.keys_of(&map)
        .into_iter()
        .filter_map(|voter| Some((voter.clone(), Reader::text(doc, &map, &voter)?)))
        .collect()
}

/// The document as of a closing change: its causal past and itself.
fn as_of(doc: &Automerge, hash: ChangeHash) -> Option<Automerge> {
    doc.fork_at(&[hash]).ok()
}

/// The tally of the proposal `id` of the room `doc`: once its vote is
/// closed, the votes in the closing change's causal past, from voters who
/// took part in the room as of that change (`citizen` says who is a
/// citizen of the room's postal code, for a room of citizens); before,
/// the current votes. Amendments likewise at their own closing.
pub fn tally(doc: &Automerge, id: &str, citizen: &dyn Fn(&AuthorKey) -> bool) -> Option<Tally> {
    let proposals = proposals_map(doc)?;
    let obj = Reader::map(doc, &proposals, id)?;
    let proposal = read_proposal_at(doc, &obj, id)?;
    let now_votes = votes_in(doc, &obj, &[key::VOTES]);

    // The votes as of the closing, and the room as it was then.
    let vote_closing = closing(doc, &obj, Stage::Vote);
    let (counted_in, room): (BTreeMap<String, String>, Option<Automerge>) = match &vote_closing {
        Some((_, hash)) => {
            let past = as_of(doc, *hash)?;
            let past_obj = Reader::map(&past, &ROOT, doc_key::PROPOSALS)
                .and_then(|map| Reader::map(&past, &map, id))?;
            (votes_in(&past, &past_obj, &[key::VOTES]), Some(past))
        }
        None => (now_votes.clone(), None),
    };
    let room_then: &Automerge = room.as_ref().unwrap_or(doc);
    let mut counted = Vec::new();
    let mut left_out = Vec::new();
    let mut counts: BTreeMap<String, u64> = proposal
        .choices
        .iter()
        .chain(std::iter::once(&BLANK.to_owned()))
        .map(|choice| (choice.clone(), 0))
        .collect();
    for (voter, choice) in &counted_in {
        let Ok(key) = voter.parse::<AuthorKey>() else {
            continue;
        };
        if !takes_part(room_then, voter, Some(citizen)) {
            left_out.push((key, LeftOut::NotEligible));
            continue;
        }
        if let Some(count) = counts.get_mut(choice) {
            *count += 1;
            counted.push(Ballot {
                voter: key,
                choice: choice.clone(),
            });
        }
    }
    for voter in now_votes.keys() {
        if !counted_in.contains_key(voter)
            && let Ok(key) = voter.parse::<AuthorKey>()
        {
            left_out.push((key, LeftOut::AfterClosing));
        }
    }
    let outcome = if vote_closing.is_none() {
        Outcome::Open
    } else {
        decide_outcome(&proposal, &counts, counted.len())
    };

    let amendments_closing = closing(doc, &obj, Stage::Amendments);
    let amendment_room = match &amendments_closing {
        Some((_, hash)) => Some(as_of(doc, *hash)?),
        None => None,
    };
    let amendments = proposal
        .amendments
        .iter()
        .map(|amendment| {
            let source = amendment_room.as_ref().unwrap_or(doc);
            let source_obj = Reader::map(source, &ROOT, doc_key::PROPOSALS)
                .and_then(|map| Reader::map(source, &map, id));
            let votes = source_obj
                .map(|obj| votes_in(source, &obj, &[key::AMENDMENTS, &amendment.id, key::VOTES]))
                .unwrap_or_default();
            let (mut yes, mut no, mut blank) = (0, 0, 0);
            for (voter, choice) in &votes {
                if !takes_part(source, voter, Some(citizen)) {
                    continue;
                }
                match choice.as_str() {
                    "yes" => yes += 1,
                    "no" => no += 1,
                    BLANK => blank += 1,
                    _ => {}
                }
            }
            AmendmentTally {
                id: amendment.id.clone(),
                yes,
                no,
                blank,
                adopted: amendments_closing
                    .as_ref()
                    .map(|_| yes * 100 > u64::from(proposal.majority) * (yes + no)),
            }
        })
        .collect();
    Some(Tally {
        proposal,
        closing: vote_closing.map(|(closing, _)| closing),
        counted,
        left_out,
        counts,
        outcome,
        amendments_closing: amendments_closing.map(|(closing, _)| closing),
        amendments,
    })
}

/// The outcome of closed counts.
fn decide_outcome(
    proposal: &super::Proposal,
    counts: &BTreeMap<String, u64>,
    counted: usize,
) -> Outcome {
    if proposal
        .quorum
        .is_some_and(|quorum| (counted as u64) < u64::from(quorum))
    {
        return Outcome::QuorumNotReached;
    }
    let expressed: u64 = counts
        .iter()
        .filter(|(choice, _)| choice.as_str() != BLANK)
        .map(|(_, n)| n)
        .sum();
    let majority = u64::from(proposal.majority);
    let passes = |n: u64| expressed > 0 && n * 100 > majority * expressed;
    let yes_no = proposal.choices == YES_NO;
    if yes_no {
        return if passes(counts.get("yes").copied().unwrap_or(0)) {
            Outcome::Adopted
        } else {
            Outcome::Rejected
        };
    }
    let mut passing = proposal
        .choices
        .iter()
        .filter(|choice| passes(counts.get(*choice).copied().unwrap_or(0)));
    match (passing.next(), passing.next()) {
        (Some(choice), None) => Outcome::Chosen(choice.clone()),
        _ => Outcome::NoMajority,
    }
}
