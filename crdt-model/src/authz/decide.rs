//! The rules of a room's decisions (layout in [`crate::decide`]): each
//! operation under `proposals` is first read for its place (`record`),
//! then checked against the proposal as of the change's dependencies
//! (`check`): its phase, who takes part, the author's own slot, the
//! proposal's choices, and whether a closing is due.

use std::collections::HashSet;

use automerge::legacy::OpType;
use automerge::{ObjId, ObjType, ROOT, ScalarValue};

use crate::decide::{self, ActionStatus, BLANK, Phase, Stage, YES_NO, author_of, key, moderation};
use crate::decide::{Reader, phase_of, takes_part};
use crate::document::key as doc_key;
use crate::ids::EntityId;
use crate::schema::{Field, ValidationError};

use super::{Path, Reject, Role, View, Writes, invalid, wrong_type};

/// Why a decision is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecisionError {
    /// Proposals are made in rooms only.
    #[error("this entity is not a room: it holds no proposals")]
    NotARoom,
    /// The proposal is not in the change's causal past.
    #[error("no such proposal as of the change's dependencies")]
    NoSuchProposal,
    /// The amendment is not in the change's causal past.
    #[error("no such amendment as of the change's dependencies")]
    NoSuchAmendment,
    /// A proposal or amendment id made twice.
    #[error("it exists already")]
    Exists,
    /// The author does not take part in the room's decisions.
    #[error("the author does not take part in this room's decisions (who: {0})")]
    NotEligible(&'static str),
    /// Not possible in the proposal's phase.
    #[error("the proposal is {0}: not possible now")]
    WrongPhase(Phase),
    /// A second vote where votes may not change.
    #[error("the author has voted, and this proposal's votes may not change")]
    SecondVote,
    /// A vote for something the proposal does not offer.
    #[error("{0:?} is not one of the proposal's choices (nor blank)")]
    NotAChoice(String),
    /// A closing before the declared end by someone who is not an admin.
    #[error("only a room admin may close before the declared end ({0})")]
    EarlyClosing(String),
    /// Only the proposer may do this (or a room admin, to open the vote).
    #[error("only the proposer may do this")]
    NotProposer,
    /// Set when the proposal is made, never changed.
    #[error("{0} is set when the proposal is made and never changes")]
    Fixed(&'static str),
    /// A new proposal or amendment without one of its parts.
    #[error("a new proposal or amendment needs its {0}")]
    Incomplete(&'static str),
    /// Nothing under `proposals` is ever deleted: a decision is a record.
    #[error("nothing of a decision is deleted")]
    Deleted,
    /// A moderation proposal outside a moderation room.
    #[error("moderation proposals are made in a moderation room")]
    NotAModerationRoom,
    /// An action follows an adopted proposal.
    #[error("actions follow an adopted proposal (its resolution): this one is not")]
    NotAdopted,
    /// Only an action's author or a room admin sets its status.
    #[error("only the action's author or a room admin may set its status")]
    NotActionAuthor,
    /// The action is not in the change's causal past.
    #[error("no such action as of the change's dependencies")]
    NoSuchAction,
    /// One place of a decision written twice by the same change.
    #[error("a change writes each place of a decision once")]
    WrittenTwice,
    /// A moderation proposal of another shape than the fixed one.
    #[error("a moderation proposal is {0}")]
    ModerationShape(&'static str),
}

impl DecisionError {
    /// Why, as a stable machine-readable name, for clients that say it in
    /// the citizen's language.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotARoom => "not_a_room",
            Self::NoSuchProposal => "no_such_proposal",
            Self::NoSuchAmendment => "no_such_amendment",
            Self::Exists => "exists",
            Self::NotEligible(_) => "not_eligible",
            Self::WrongPhase(_) => "wrong_phase",
            Self::SecondVote => "second_vote",
            Self::NotAChoice(_) => "not_a_choice",
            Self::EarlyClosing(_) => "early_closing",
            Self::NotProposer => "not_proposer",
            Self::Fixed(_) => "fixed",
            Self::Incomplete(_) => "incomplete",
            Self::Deleted => "deleted",
            Self::NotAModerationRoom => "not_a_moderation_room",
            Self::NotAdopted => "not_adopted",
            Self::WrittenTwice => "written_twice",
            Self::NoSuchAction => "no_such_action",
            Self::NotActionAuthor => "not_action_author",
            Self::ModerationShape(_) => "moderation_shape",
        }
    }
}

/// One write under `proposals`, with its path.
pub(super) struct DecisionWrite {
    path: Path,
    pid: String,
    what: What,
    value: Option<ScalarValue>,
}

enum What {
    Proposal,
    ProposalKey(String),
    Container,
    Vote(String),
    Amendment(String),
    AmendmentKey(String, String),
    AmendmentContainer(String),
    AmendmentVote(String, String),
    Closing(Stage, String),
    Action(String),
    ActionKey(String, String),
    ActionContainer(String),
    Volunteer(String, String),
}

/// Reads the place of an operation under `proposals/…` (`rest` is the
/// path after it) and records it.
pub(super) fn record(
    role: &Role,
    path: &Path,
    rest: &[Option<&str>],
    action: &OpType,
    writes: &mut Writes,
) -> Result<(), Reject> {
    let is_map = matches!(action, OpType::Make(ObjType::Map));
    let value = match action {
        OpType::Put(value) => Some(value.clone()),
        _ => None,
    };
    if matches!(action, OpType::Delete) {
        return Err(refused(path, DecisionError::Deleted));
    }
    let keys: Vec<&str> = rest.iter().map(|key| key.unwrap_or("")).collect();
    let unknown = || Reject::UnknownPath { path: path.clone() };
    let needs_map = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(wrong_type(path, "decision", "a map"))
        }
    };
    let needs_value = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(wrong_type(path, "decision", "a plain value"))
        }
    };
    let (pid, what) = match keys.as_slice() {
        [] => {
            // The container itself, made by a room's genesis.
            return if role.genesis && is_map {
                writes.proposals_made = true;
                Ok(())
            } else {
                Err(Reject::Immutable { path: path.clone() })
            };
        }
        [pid] => {
            needs_map(is_map)?;
            (pid, What::Proposal)
        }
        [
            pid,
            key::VOTES | key::AMENDMENTS | key::CLOSINGS | key::ACTIONS,
        ] => {
            needs_map(is_map)?;
            (pid, What::Container)
        }
        [pid, key::CLOSINGS, stage] => {
            Stage::of(stage).ok_or_else(unknown)?;
            needs_map(is_map)?;
            (pid, What::Container)
        }
        [pid, key::CLOSINGS, stage, closer] => {
            needs_value(value.is_some())?;
            let stage = Stage::of(stage).ok_or_else(unknown)?;
            (pid, What::Closing(stage, (*closer).to_owned()))
        }
        [pid, key::VOTES, voter] => {
            needs_value(value.is_some())?;
            (pid, What::Vote((*voter).to_owned()))
        }
        [pid, key::AMENDMENTS, aid] => {
            needs_map(is_map)?;
            (pid, What::Amendment((*aid).to_owned()))
        }
        [pid, key::AMENDMENTS, aid, key::VOTES] => {
            needs_map(is_map)?;
            (pid, What::AmendmentContainer((*aid).to_owned()))
        }
        [pid, key::AMENDMENTS, aid, name @ (key::TEXT | key::AT)] => {
            needs_value(value.is_some())?;
            (
                pid,
                What::AmendmentKey((*aid).to_owned(), (*name).to_owned()),
            )
        }
        [pid, key::AMENDMENTS, aid, key::VOTES, voter] => {
            needs_value(value.is_some())?;
            (
                pid,
                What::AmendmentVote((*aid).to_owned(), (*voter).to_owned()),
            )
        }
        [pid, key::ACTIONS, aid] => {
            needs_map(is_map)?;
            (pid, What::Action((*aid).to_owned()))
        }
        [pid, key::ACTIONS, aid, key::VOLUNTEERS] => {
            needs_map(is_map)?;
            (pid, What::ActionContainer((*aid).to_owned()))
        }
        [
            pid,
            key::ACTIONS,
            aid,
            name @ (key::TITLE | key::START | key::END | key::AT | key::STATUS),
        ] => {
            needs_value(value.is_some())?;
            (pid, What::ActionKey((*aid).to_owned(), (*name).to_owned()))
        }
        [pid, key::ACTIONS, aid, key::VOLUNTEERS, volunteer] => {
            needs_value(value.is_some())?;
            (
                pid,
                What::Volunteer((*aid).to_owned(), (*volunteer).to_owned()),
            )
        }
        [pid, name] => {
            needs_value(value.is_some())?;
            (pid, What::ProposalKey((*name).to_owned()))
        }
        _ => return Err(unknown()),
    };
    if author_of(pid).is_none() {
        return Err(unknown());
    }
    writes.decisions.push(DecisionWrite {
        path: path.clone(),
        pid: (*pid).to_owned(),
        what,
        value,
    });
    Ok(())
}

fn refused(path: &Path, error: DecisionError) -> Reject {
    Reject::Decision {
        path: path.clone(),
        error,
    }
}

/// Checks the decisions of a change, as of its dependencies. `time_ms` is
/// the change's own time (its author's clock).
pub(super) fn check(
    view: &View<'_>,
    role: &Role,
    writes: &Writes,
    time_ms: i64,
) -> Result<(), Reject> {
    if writes.decisions.is_empty() {
        return Ok(());
    }
    // Each place once: a second write would replace a value after it was
    // checked (a majority of 75 written, then 1).
    let mut places = HashSet::new();
    for write in &writes.decisions {
        if !places.insert(&write.path) {
            return Err(refused(&write.path, DecisionError::WrittenTwice));
        }
    }
    let first = &writes.decisions[0].path;
    let proposals = if role.genesis {
        None
    } else {
        Some(
            view.map(&ROOT, doc_key::PROPOSALS)
                .ok_or_else(|| refused(first, DecisionError::NotARoom))?,
        )
    };
    let made: HashSet<&str> = writes
        .decisions
        .iter()
        .filter(|write| matches!(write.what, What::Proposal))
        .map(|write| write.pid.as_str())
        .collect();
    let made_amendments: HashSet<(&str, &str)> = writes
        .decisions
        .iter()
        .filter_map(|write| match &write.what {
            What::Amendment(aid) => Some((write.pid.as_str(), aid.as_str())),
            _ => None,
        })
        .collect();
    let made_actions: HashSet<(&str, &str)> = writes
        .decisions
        .iter()
        .filter_map(|write| match &write.what {
            What::Action(aid) => Some((write.pid.as_str(), aid.as_str())),
            _ => None,
        })
        .collect();
    let who = || decide::Who::of(view.text(&ROOT, "who").as_deref()).as_str();
    let eligible = |path: &Path| {
        if takes_part(view, &role.author, None) {
            Ok(())
        } else {
            Err(refused(path, DecisionError::NotEligible(who())))
        }
    };
    let is_admin = role.admin;
    for write in &writes.decisions {
        let path = &write.path;
        let refuse = |error| Err(refused(path, error));
        let owner = author_of(&write.pid).map(|key| key.to_string());
        let new = made.contains(write.pid.as_str());
        let existing: Option<ObjId> = proposals.as_ref().and_then(|map| view.map(map, &write.pid));
        // What exists as of the dependencies, for all but the proposal's
        // own creating change.
        let (obj, phase) = match (&existing, new) {
            (Some(_), true) => return refuse(DecisionError::Exists),
            (Some(obj), false) => (Some(obj.clone()), Some(phase_of(view, obj))),
            (None, true) => (None, None),
            (None, false) => return refuse(DecisionError::NoSuchProposal),
        };
        match &write.what {
            What::Proposal => {
                if owner.as_deref() != Some(role.author.as_str()) {
                    return Err(Reject::ForeignSlot { path: path.clone() });
                }
                // A reporter opens a moderation proposal without taking
                // part in the room; voting stays for those who do.
                if !check_new_proposal(view, path, &write.pid, writes)? {
                    eligible(path)?;
                }
            }
            What::Container => {
                if !new {
                    return Err(Reject::Immutable { path: path.clone() });
                }
            }
            What::ProposalKey(name) => {
                check_proposal_value(path, name, write.value.as_ref())?;
                if new {
                    continue;
                }
                let phase = phase.expect("an existing proposal has a phase");
                match name.as_str() {
                    key::VOTE_OPEN => {
                        if owner.as_deref() != Some(role.author.as_str()) && !is_admin {
                            return refuse(DecisionError::NotProposer);
                        }
                        if phase != Phase::Folding {
                            return refuse(DecisionError::WrongPhase(phase));
                        }
                    }
                    key::TITLE | key::TEXT | key::VOTE_UNTIL => {
                        if owner.as_deref() != Some(role.author.as_str()) {
                            return refuse(DecisionError::NotProposer);
                        }
                        if !matches!(phase, Phase::Amending | Phase::Folding) {
                            return refuse(DecisionError::WrongPhase(phase));
                        }
                    }
                    _ => return refuse(DecisionError::Fixed(fixed_name(name))),
                }
            }
            What::Vote(voter) => {
                own_slot(path, voter, role)?;
                let obj = in_phase(path, obj, phase, Phase::Voting)?;
                eligible(path)?;
                let choice = text_value(path, write.value.as_ref())?;
                let choices = view
                    .text(&obj, key::CHOICES)
                    .map(|text| text.split('\n').map(str::to_owned).collect::<Vec<_>>())
                    .unwrap_or_else(|| YES_NO.map(str::to_owned).to_vec());
                if choice != BLANK && !choices.contains(&choice) {
                    return refuse(DecisionError::NotAChoice(choice));
                }
                second_vote(view, path, &obj, &[key::VOTES], voter)?;
            }
            What::Amendment(aid) => {
                own_slot_id(path, aid, role)?;
                let obj = in_phase(path, obj, phase, Phase::Amending)?;
                eligible(path)?;
                if view
                    .map(&obj, key::AMENDMENTS)
                    .and_then(|map| view.map(&map, aid))
                    .is_some()
                {
                    return refuse(DecisionError::Exists);
                }
                let has = |wanted: &str| {
                    writes.decisions.iter().any(|other| {
                        other.pid == write.pid
                            && match &other.what {
                                What::AmendmentKey(other_aid, name) => {
                                    other_aid == aid && name == wanted
                                }
                                What::AmendmentContainer(other_aid) => {
                                    other_aid == aid && wanted == key::VOTES
                                }
                                _ => false,
                            }
                    })
                };
                for part in [key::TEXT, key::AT, key::VOTES] {
                    if !has(part) {
                        return refuse(DecisionError::Incomplete(part));
                    }
                }
            }
            What::AmendmentKey(aid, name) => {
                if !made_amendments.contains(&(write.pid.as_str(), aid.as_str())) {
                    return refuse(DecisionError::Fixed("an amendment"));
                }
                match name.as_str() {
                    key::TEXT => {
                        let text = text_value(path, write.value.as_ref())?;
                        decide::check_words(key::TEXT, &text)
                            .map_err(|error| invalid(path, error))?;
                    }
                    _ => time_value(path, write.value.as_ref())?,
                }
            }
            What::AmendmentContainer(aid) => {
                if !made_amendments.contains(&(write.pid.as_str(), aid.as_str())) {
                    return Err(Reject::Immutable { path: path.clone() });
                }
            }
            What::AmendmentVote(aid, voter) => {
                own_slot(path, voter, role)?;
                let obj = in_phase(path, obj, phase, Phase::Amending)?;
                if view
                    .map(&obj, key::AMENDMENTS)
                    .and_then(|map| view.map(&map, aid))
                    .is_none()
                {
                    return refuse(DecisionError::NoSuchAmendment);
                }
                eligible(path)?;
                let choice = text_value(path, write.value.as_ref())?;
                if !matches!(choice.as_str(), "yes" | "no" | BLANK) {
                    return refuse(DecisionError::NotAChoice(choice));
                }
                second_vote(view, path, &obj, &[key::AMENDMENTS, aid, key::VOTES], voter)?;
            }
            What::Action(aid) => {
                own_slot_id(path, aid, role)?;
                let obj = in_phase(path, obj, phase, Phase::Closed)?;
                if owner.as_deref() != Some(role.author.as_str()) && !is_admin {
                    return refuse(DecisionError::NotProposer);
                }
                if action_in(view, &obj, aid).is_some() {
                    return refuse(DecisionError::Exists);
                }
                if !adopted(view, &write.pid) {
                    return refuse(DecisionError::NotAdopted);
                }
                check_new_action(path, &write.pid, aid, writes)?;
            }
            What::ActionContainer(aid) => {
                if !made_actions.contains(&(write.pid.as_str(), aid.as_str())) {
                    return Err(Reject::Immutable { path: path.clone() });
                }
            }
            What::ActionKey(aid, name) => {
                check_action_value(path, name, write.value.as_ref())?;
                if made_actions.contains(&(write.pid.as_str(), aid.as_str())) {
                    if name == key::STATUS
                        && write.value != Some(ScalarValue::Str(ActionStatus::Todo.as_str().into()))
                    {
                        return Err(wrong_type(path, key::STATUS, "todo, for a new action"));
                    }
                    continue;
                }
                let obj = obj.ok_or_else(|| refused(path, DecisionError::NoSuchProposal))?;
                if action_in(view, &obj, aid).is_none() {
                    return refuse(DecisionError::NoSuchAction);
                }
                if name != key::STATUS {
                    return refuse(DecisionError::Fixed("an action's title and dates"));
                }
                let author = author_of(aid).map(|key| key.to_string());
                if author.as_deref() != Some(role.author.as_str()) && !is_admin {
                    return refuse(DecisionError::NotActionAuthor);
                }
            }
            What::Volunteer(aid, volunteer) => {
                own_slot(path, volunteer, role)?;
                let obj = obj.ok_or_else(|| refused(path, DecisionError::NoSuchProposal))?;
                if action_in(view, &obj, aid).is_none() {
                    return refuse(DecisionError::NoSuchAction);
                }
                eligible(path)?;
                if !matches!(write.value, Some(ScalarValue::Boolean(_))) {
                    return Err(wrong_type(path, "volunteer", "true or false"));
                }
            }
            What::Closing(stage, closer) => {
                own_slot(path, closer, role)?;
                if new {
                    return refuse(DecisionError::WrongPhase(Phase::Folding));
                }
                let (due, until_key) = match stage {
                    Stage::Amendments => (Phase::Amending, key::AMEND_UNTIL),
                    Stage::Vote => (Phase::Voting, key::VOTE_UNTIL),
                };
                let obj = in_phase(path, obj, phase, due)?;
                time_value(path, write.value.as_ref())?;
                if !is_admin {
                    eligible(path)?;
                    let until = view.time(&obj, until_key);
                    match until {
                        Some(until) if time_ms >= until => {}
                        Some(until) => {
                            return refuse(DecisionError::EarlyClosing(decide::iso_utc(until)));
                        }
                        None => return refuse(DecisionError::EarlyClosing("none declared".into())),
                    }
                }
            }
        }
    }
    Ok(())
}

/// The action `aid` of the proposal `obj`, as of the dependencies.
fn action_in(view: &View<'_>, obj: &ObjId, aid: &str) -> Option<ObjId> {
    view.map(obj, key::ACTIONS)
        .and_then(|actions| view.map(&actions, aid))
}

/// Whether the proposal `pid` was adopted (or a choice chosen) as of the
/// dependencies. For a room of citizens every voter counts here: who is a
/// citizen is in other documents.
fn adopted(view: &View<'_>, pid: &str) -> bool {
    let past = match view.at {
        super::At::Heads => view.doc.fork(),
        super::At::Deps(heads) => match view.doc.fork_at(heads) {
            Ok(past) => past,
            Err(_) => return false,
        },
    };
    decide::tally(&past, pid, &|_| true).is_some_and(|tally| {
        matches!(
            tally.outcome,
            decide::Outcome::Adopted | decide::Outcome::Chosen(_)
        )
    })
}

/// A new action's creating change writes all its parts.
fn check_new_action(path: &Path, pid: &str, aid: &str, writes: &Writes) -> Result<(), Reject> {
    let value_of = |wanted: &str| {
        writes.decisions.iter().find_map(|write| match &write.what {
            What::ActionKey(other, name) if write.pid == pid && other == aid && name == wanted => {
                write.value.clone()
            }
            _ => None,
        })
    };
    for part in [key::TITLE, key::AT, key::STATUS] {
        if value_of(part).is_none() {
            return Err(refused(path, DecisionError::Incomplete(fixed_name(part))));
        }
    }
    let volunteers = writes.decisions.iter().any(|write| {
        write.pid == pid && matches!(&write.what, What::ActionContainer(other) if other == aid)
    });
    if !volunteers {
        return Err(refused(path, DecisionError::Incomplete("volunteers")));
    }
    if let (Some(ScalarValue::Timestamp(start)), Some(ScalarValue::Timestamp(end))) =
        (value_of(key::START), value_of(key::END))
        && end <= start
    {
        return Err(invalid(
            path,
            ValidationError::EndBeforeStart {
                start: decide::iso_utc(start),
                end: decide::iso_utc(end),
            },
        ));
    }
    Ok(())
}

/// Checks the value of an action's key.
fn check_action_value(path: &Path, name: &str, value: Option<&ScalarValue>) -> Result<(), Reject> {
    match name {
        key::TITLE => {
            let text = text_value(path, value)?;
            decide::check_words(key::TITLE, &text).map_err(|error| invalid(path, error))
        }
        key::STATUS => match value {
            Some(ScalarValue::Str(text)) if ActionStatus::of(text).is_some() => Ok(()),
            _ => Err(wrong_type(path, key::STATUS, "todo, done or disabled")),
        },
        _ => time_value(path, value),
    }
}

/// The proposal of a write that needs it to exist as of the dependencies
/// (not made by this change), in the phase `wanted`.
fn in_phase(
    path: &Path,
    obj: Option<ObjId>,
    phase: Option<Phase>,
    wanted: Phase,
) -> Result<ObjId, Reject> {
    match (obj, phase) {
        (Some(obj), Some(phase)) if phase == wanted => Ok(obj),
        (Some(_), Some(phase)) => Err(refused(path, DecisionError::WrongPhase(phase))),
        _ => Err(refused(path, DecisionError::NoSuchProposal)),
    }
}

/// A voter's or closer's slot is the author's own.
fn own_slot(path: &Path, slot: &str, role: &Role) -> Result<(), Reject> {
    if slot == role.author {
        Ok(())
    } else {
        Err(Reject::ForeignSlot { path: path.clone() })
    }
}

/// An amendment's id names its author.
fn own_slot_id(path: &Path, id: &str, role: &Role) -> Result<(), Reject> {
    match author_of(id) {
        Some(author) if author.to_string() == role.author => Ok(()),
        Some(_) => Err(Reject::ForeignSlot { path: path.clone() }),
        None => Err(Reject::UnknownPath { path: path.clone() }),
    }
}

/// Refuses a second vote where votes may not change.
fn second_vote(
    view: &View<'_>,
    path: &Path,
    obj: &ObjId,
    votes_path: &[&str],
    voter: &str,
) -> Result<(), Reject> {
    if view.flag(obj, key::VOTES_CAN_CHANGE) {
        return Ok(());
    }
    let mut map = obj.clone();
    for name in votes_path {
        match view.map(&map, name) {
            Some(next) => map = next,
            None => return Ok(()),
        }
    }
    if view.scalar(&map, voter).is_some() {
        Err(refused(path, DecisionError::SecondVote))
    } else {
        Ok(())
    }
}

/// A new proposal's creating change writes all its parts. Returns whether
/// it is a proposal to hide an entity (which anyone may open).
fn check_new_proposal(
    view: &View<'_>,
    path: &Path,
    pid: &str,
    writes: &Writes,
) -> Result<bool, Reject> {
    let has_key = |wanted: &str| {
        writes.decisions.iter().any(|write| {
            write.pid == pid && matches!(&write.what, What::ProposalKey(name) if name == wanted)
        })
    };
    for part in [key::TITLE, key::TEXT, key::AT, key::MAJORITY] {
        if !has_key(part) {
            return Err(refused(path, DecisionError::Incomplete(fixed_name(part))));
        }
    }
    let containers: HashSet<String> = writes
        .decisions
        .iter()
        .filter(|write| write.pid == pid && matches!(write.what, What::Container))
        .map(|write| {
            write
                .path
                .keys()
                .iter()
                .skip(2)
                .map(|key| key.unwrap_or(""))
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    for part in [
        "votes",
        "amendments",
        "actions",
        "closings",
        "closings/amendments",
        "closings/vote",
    ] {
        if !containers.contains(part) {
            return Err(refused(
                path,
                DecisionError::Incomplete("votes, amendments, actions and closings"),
            ));
        }
    }
    // Without an amendment period the vote opens with the proposal; with
    // one, it opens once amendments are closed.
    let value_of = |name: &str| {
        writes.decisions.iter().find_map(|write| match &write.what {
            What::ProposalKey(key) if write.pid == pid && key == name => write.value.clone(),
            _ => None,
        })
    };
    let amends = value_of(key::AMEND_UNTIL).is_some();
    let opens = value_of(key::VOTE_OPEN) == Some(ScalarValue::Boolean(true));
    if amends == opens {
        return Err(refused(
            path,
            DecisionError::WrongPhase(if amends {
                Phase::Amending
            } else {
                Phase::Folding
            }),
        ));
    }
    // The declared ends come after the proposal, by its own time.
    if let Some(ScalarValue::Timestamp(at)) = value_of(key::AT) {
        for end in [key::AMEND_UNTIL, key::VOTE_UNTIL] {
            if let Some(ScalarValue::Timestamp(until)) = value_of(end)
                && until <= at
            {
                return Err(invalid(
                    path,
                    ValidationError::EndBeforeStart {
                        start: decide::iso_utc(at),
                        end: decide::iso_utc(until),
                    },
                ));
            }
        }
    }
    if let (Some(ScalarValue::Timestamp(amend)), Some(ScalarValue::Timestamp(vote))) =
        (value_of(key::AMEND_UNTIL), value_of(key::VOTE_UNTIL))
        && vote <= amend
    {
        return Err(invalid(
            path,
            ValidationError::EndBeforeStart {
                start: amend.to_string(),
                end: vote.to_string(),
            },
        ));
    }
    let moderates = value_of(key::MODERATES).is_some();
    let restores = value_of(key::RESTORES).is_some();
    if moderates || restores {
        if !view.flag(&ROOT, Field::Moderation.key()) {
            return Err(refused(path, DecisionError::NotAModerationRoom));
        }
        moderation::shape(&value_of)
            .map_err(|shape| refused(path, DecisionError::ModerationShape(shape)))?;
    }
    Ok(moderates && !restores)
}

/// Checks the value of a proposal's key.
fn check_proposal_value(
    path: &Path,
    name: &str,
    value: Option<&ScalarValue>,
) -> Result<(), Reject> {
    match name {
        key::TITLE | key::TEXT => {
            let text = text_value(path, value)?;
            let field = if name == key::TITLE {
                key::TITLE
            } else {
                key::TEXT
            };
            decide::check_words(field, &text).map_err(|error| invalid(path, error))
        }
        key::CHOICES => {
            let text = text_value(path, value)?;
            decide::parse_choices(&text)
                .map(|_| ())
                .map_err(|error| invalid(path, error))
        }
        key::MAJORITY => match value {
            Some(ScalarValue::Uint(1..=99)) => Ok(()),
            _ => Err(wrong_type(path, key::MAJORITY, "a percentage from 1 to 99")),
        },
        key::QUORUM => match value {
            Some(ScalarValue::Uint(1..)) => Ok(()),
            _ => Err(wrong_type(
                path,
                key::QUORUM,
                "a number of votes, at least 1",
            )),
        },
        key::AMEND_UNTIL | key::VOTE_UNTIL | key::AT => time_value(path, value),
        key::VOTES_CAN_CHANGE | key::NAMES_SHOWN => match value {
            Some(ScalarValue::Boolean(_)) => Ok(()),
            _ => Err(wrong_type(path, "flag", "true or false")),
        },
        key::VOTE_OPEN => match value {
            Some(ScalarValue::Boolean(true)) => Ok(()),
            _ => Err(wrong_type(path, key::VOTE_OPEN, "true")),
        },
        key::MODERATES | key::RESTORES => match value {
            Some(ScalarValue::Str(id)) if id.parse::<EntityId>().is_ok() => Ok(()),
            _ => Err(wrong_type(path, "moderation", "an entity id")),
        },
        _ => Err(Reject::UnknownPath { path: path.clone() }),
    }
}

fn fixed_name(name: &str) -> &'static str {
    [
        key::TITLE,
        key::TEXT,
        key::CHOICES,
        key::MAJORITY,
        key::QUORUM,
        key::AMEND_UNTIL,
        key::VOTE_UNTIL,
        key::VOTES_CAN_CHANGE,
        key::NAMES_SHOWN,
        key::AT,
        key::MODERATES,
        key::RESTORES,
    ]
    .into_iter()
    .find(|known| *known == name)
    .unwrap_or("this key")
}

fn text_value(path: &Path, value: Option<&ScalarValue>) -> Result<String, Reject> {
    match value {
        Some(ScalarValue::Str(text)) => Ok(text.to_string()),
        _ => Err(wrong_type(path, "decision", "text")),
    }
}

fn time_value(path: &Path, value: Option<&ScalarValue>) -> Result<(), Reject> {
    match value {
        Some(ScalarValue::Timestamp(_)) => Ok(()),
        _ => Err(wrong_type(path, "decision", "a timestamp")),
    }
}
