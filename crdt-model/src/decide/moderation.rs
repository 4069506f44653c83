//! Moderation as the community's own decision: reports by distinct
//! persons flag an entity; a moderation proposal in the postal code's
//! moderation room asks to hide it; its tally decides, on every node
//! alike.
//!
//! - A **moderation room** is a room whose `moderation` field is true;
//!   when a postal code has several, the oldest (by `created_at`, then id)
//!   is the one that counts ([`moderation_room`]).
//! - A moderation proposal names the entity in `moderates` (hide it) or
//!   `restores` (show it again). Its shape is fixed: yes / no,
//!   [`MAJORITY`] % of the expressed votes, a vote declared for
//!   [`VOTE_HOURS`] hours from the proposal, no amendments, no quorum.
//!   Anyone may open one that `moderates` (a reporter need not take part
//!   in the room); only those who take part may open one that `restores`.
//!   Only those who take part vote, as in any room.
//! - Whether an entity is hidden is derived by every node from causality
//!   alone, never from a clock ([`state`]): it is hidden when an adopted
//!   proposal `moderates` it and no adopted proposal `restores` it that
//!   was made after seeing that proposal's closing (the closing change in
//!   the restoring proposal's causal past). A second proposal made while
//!   one is open only adds a vote; a restoring made without seeing a
//!   hiding restores nothing.
//! - Reports count from the last refusal (or restoring) on: a refused
//!   `moderates` clears the reports written before its closing (by their
//!   own times), and so does an adopted `restores`. Nobody writes in the
//!   reporters' slots: their reports stay, they no longer count. Times
//!   more than a day ahead of the reader's clock are not believed. These
//!   times only decide what is flagged, never what is hidden.
//! - An entity is **flagged** when it is not hidden and at least
//!   [`REPORTS_TO_FLAG`] reports count. The node of the reporter who
//!   flags it opens the moderation proposal.
//!
//! A hidden entity is kept: every node still stores and forwards it, and
//! shows it on request; lists, searches, the map and exports leave it out.

use std::collections::BTreeMap;

use std::collections::HashSet;

use automerge::{Automerge, ChangeHash, ROOT, ReadDoc, ScalarValue};
use serde::{Deserialize, Serialize};

use super::{NewProposal, Outcome, Reader, Tally, key};
use crate::document::Report;
use crate::document::key as doc_key;
use crate::ids::EntityId;

/// Distinct reports that flag an entity.
pub const REPORTS_TO_FLAG: usize = 3;
/// Percent of the expressed votes a moderation proposal needs (strictly
/// more).
pub const MAJORITY: u8 = 75;
/// Declared length of a moderation vote, in hours.
pub const VOTE_HOURS: i64 = 48;
/// Declared length of a moderation vote, in milliseconds.
pub const VOTE_MS: i64 = VOTE_HOURS * 3_600_000;

/// What a moderation proposal asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Asks {
    /// To hide the entity (`moderates`).
    Hide,
    /// To show the hidden entity again (`restores`).
    Restore,
}

/// A new moderation proposal about `item`, made at `at`: the fixed shape,
/// a title naming the entity, and a text giving the reasons reported.
pub fn new_proposal(
    asks: Asks,
    item: EntityId,
    name: &str,
    reasons: &[String],
    at: i64,
) -> NewProposal {
    let name: String = name.chars().take(80).collect();
    let (title, mut text) = match asks {
        Asks::Hide => (
            format!("Masquer « {name} » ?"),
            format!(
                "{} signalements. Adoptée à plus de {MAJORITY} % des voix, la fiche est \
                 masquée sur chaque nœud (gardée, visible sur demande).",
                reasons.len()
            ),
        ),
        Asks::Restore => (
            format!("Rétablir « {name} » ?"),
            format!(
                "Adoptée à plus de {MAJORITY} % des voix, la fiche masquée est de nouveau \
                 montrée, et les signalements d'avant sont levés."
            ),
        ),
    };
    for reason in reasons {
        let line: String = reason.chars().take(200).collect();
        text.push_str("\n- ");
        text.push_str(line.trim());
    }
    NewProposal {
        title,
        text,
        majority: Some(MAJORITY),
        vote_until: Some(at.saturating_add(VOTE_MS)),
        moderates: (asks == Asks::Hide).then_some(item),
        restores: (asks == Asks::Restore).then_some(item),
        ..NewProposal::default()
    }
}

/// Why a moderation proposal's shape is refused, if it is; `value_of`
/// gives the values its creating change writes, by key.
pub(crate) fn shape(value_of: &dyn Fn(&str) -> Option<ScalarValue>) -> Result<(), &'static str> {
    if value_of(key::MODERATES).is_some() && value_of(key::RESTORES).is_some() {
        return Err("one of moderates and restores");
    }
    if [key::AMEND_UNTIL, key::CHOICES, key::QUORUM]
        .iter()
        .any(|name| value_of(name).is_some())
    {
        return Err("yes or no, without amendments or quorum");
    }
    if value_of(key::MAJORITY) != Some(ScalarValue::Uint(u64::from(MAJORITY))) {
        return Err("a majority of 75 %");
    }
    match (value_of(key::AT), value_of(key::VOTE_UNTIL)) {
        (Some(ScalarValue::Timestamp(at)), Some(ScalarValue::Timestamp(until)))
            if at.checked_add(VOTE_MS) == Some(until) =>
        {
            Ok(())
        }
        _ => Err("a vote declared for 48 hours from the proposal"),
    }
}

/// What one moderation proposal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Its vote is open.
    Open,
    /// Adopted: the entity was hidden (until a restoring that saw it).
    Hidden,
    /// Refused (rejected, no majority or no quorum): the entity stays, the
    /// reports before the closing are cleared.
    Kept,
    /// Adopted: the entity is shown again, the reports before the closing
    /// are cleared.
    Restored,
    /// Refused: the entity stays hidden.
    StaysHidden,
    /// Adopted, but restored nothing: no adopted hiding was in its past.
    Moot,
}

/// One moderation proposal about an entity, and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The proposal's id.
    pub proposal: String,
    /// What it asks.
    pub asks: Asks,
    /// When it was made (ms, by its proposer's clock).
    pub at: i64,
    /// When its vote was closed (ms, by the closer's clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<i64>,
    /// What it did.
    pub effect: Effect,
}

/// Where an entity stands in moderation, the same on every node holding
/// the same changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The entity.
    pub item: EntityId,
    /// Whether it is hidden.
    pub hidden: bool,
    /// Whether it is flagged: not hidden, and at least
    /// [`REPORTS_TO_FLAG`] reports count.
    pub flagged: bool,
    /// The reports that count, oldest first.
    pub counted: Vec<Report>,
    /// The reports cleared by a refusal or a restoring.
    pub cleared: Vec<Report>,
    /// The proposal being voted on, if any (the oldest open one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<String>,
    /// Every moderation proposal about the entity, oldest first.
    pub steps: Vec<Step>,
}

/// What the proposal of `tally` asks, and about what.
pub fn asks(tally: &Tally) -> Option<(Asks, EntityId)> {
    let proposal = &tally.proposal;
    match (proposal.moderates, proposal.restores) {
        (Some(item), None) => Some((Asks::Hide, item)),
        (None, Some(item)) => Some((Asks::Restore, item)),
        _ => None,
    }
}

/// Times further ahead of the reader's clock than this are not believed:
/// such a report does not count, such a closing clears nothing.
pub const CLOCK_AHEAD_MS: i64 = 86_400_000;

/// The change that made the proposal `id` of the room `doc`.
fn made_by(doc: &Automerge, id: &str) -> Option<ChangeHash> {
    let proposals = Reader::map(doc, &ROOT, doc_key::PROPOSALS)?;
    let obj = Reader::map(doc, &proposals, id)?;
    doc.hash_for_opid(&obj)
}

/// The closing change of a tally.
fn closed_by(tally: &Tally) -> Option<ChangeHash> {
    tally.closing.as_ref()?.change.parse().ok()
}

/// Whether `ancestor` is in the causal past of `change` (or is it).
fn in_past(doc: &Automerge, ancestor: ChangeHash, change: ChangeHash) -> bool {
    let mut seen = HashSet::new();
    let mut stack = vec![change];
    while let Some(hash) = stack.pop() {
        if hash == ancestor {
            return true;
        }
        if seen.insert(hash)
            && let Some(found) = doc.get_change_by_hash(&hash)
        {
            stack.extend(found.deps().iter().copied());
        }
    }
    false
}

/// Where `item` stands, from its reports and the moderation room `doc`
/// with the tallies of its proposals (those about other entities are
/// passed over); `now_ms` is the reader's clock, for the reports only.
///
/// Hidden is decided by causality alone, never by a clock: the entity is
/// hidden when some adopted proposal hid it and no adopted restoring was
/// made after seeing that proposal's closing. Reports count from the
/// latest refusal or restoring on, by their authors' times.
pub fn state(
    doc: &Automerge,
    item: EntityId,
    reports: &[Report],
    tallies: &[Tally],
    now_ms: i64,
) -> State {
    let mut about: Vec<(&Tally, Asks)> = tallies
        .iter()
        .filter_map(|tally| match asks(tally) {
            Some((asks, of)) if of == item => Some((tally, asks)),
            _ => None,
        })
        .collect();
    about.sort_by(|(a, _), (b, _)| {
        (a.proposal.at, &a.proposal.id).cmp(&(b.proposal.at, &b.proposal.id))
    });
    let adopted = |tally: &Tally| tally.closing.is_some() && tally.outcome == Outcome::Adopted;
    let hides: Vec<ChangeHash> = about
        .iter()
        .filter(|(tally, asks)| *asks == Asks::Hide && adopted(tally))
        .filter_map(|(tally, _)| closed_by(tally))
        .collect();
    let restores: Vec<(&str, ChangeHash)> = about
        .iter()
        .filter(|(tally, asks)| *asks == Asks::Restore && adopted(tally))
        .filter_map(|(tally, _)| {
            Some((
                tally.proposal.id.as_str(),
                made_by(doc, &tally.proposal.id)?,
            ))
        })
        .collect();
    let answered = |hide: ChangeHash| {
        restores
            .iter()
            .any(|(_, restore)| in_past(doc, hide, *restore))
    };
    let hidden = hides.iter().any(|hide| !answered(*hide));
    let believed = |time: i64| time <= now_ms.saturating_add(CLOCK_AHEAD_MS);
    let mut cleared_until = i64::MIN;
    let mut open = None;
    let mut steps = Vec::new();
    for (tally, asks) in &about {
        let closed_at = tally.closing.as_ref().map(|closing| closing.at);
        let effect = match (closed_at, asks, adopted(tally)) {
            (None, _, _) => {
                open.get_or_insert_with(|| tally.proposal.id.clone());
                Effect::Open
            }
            (Some(_), Asks::Hide, true) => Effect::Hidden,
            (Some(closed), Asks::Hide, false) => {
                if believed(closed) {
                    cleared_until = cleared_until.max(closed);
                }
                Effect::Kept
            }
            (Some(closed), Asks::Restore, true) => {
                let made = made_by(doc, &tally.proposal.id);
                let restored =
                    made.is_some_and(|made| hides.iter().any(|hide| in_past(doc, *hide, made)));
                if !restored {
                    Effect::Moot
                } else {
                    if believed(closed) {
                        cleared_until = cleared_until.max(closed);
                    }
                    Effect::Restored
                }
            }
            (Some(_), Asks::Restore, false) => Effect::StaysHidden,
        };
        steps.push(Step {
            proposal: tally.proposal.id.clone(),
            asks: *asks,
            at: tally.proposal.at,
            closed_at,
            effect,
        });
    }
    // One report per author (their slot), oldest first; one dated too far
    // ahead is not believed.
    let mut by_author: BTreeMap<String, &Report> = BTreeMap::new();
    for report in reports.iter().filter(|report| believed(report.at)) {
        by_author.insert(report.author.to_string(), report);
    }
    let (mut cleared, mut counted): (Vec<Report>, Vec<Report>) = by_author
        .into_values()
        .cloned()
        .partition(|report| report.at <= cleared_until);
    counted.sort_by_key(|report| (report.at, report.author));
    cleared.sort_by_key(|report| (report.at, report.author));
    State {
        item,
        flagged: !hidden && counted.len() >= REPORTS_TO_FLAG,
        hidden,
        counted,
        cleared,
        open,
        steps,
    }
}

/// The entities the moderation room `doc` hides, from the tallies of its
/// proposals.
pub fn hidden(doc: &Automerge, tallies: &[Tally]) -> Vec<EntityId> {
    let mut items: Vec<EntityId> = tallies
        .iter()
        .filter_map(|tally| asks(tally).map(|(_, item)| item))
        .collect();
    items.sort();
    items.dedup();
    items.retain(|item| state(doc, *item, &[], tallies, 0).hidden);
    items
}

/// The postal code's moderation room among `rooms` (each a room's id,
/// its `created_at` and whether its `moderation` is true): the oldest.
pub fn moderation_room(rooms: impl IntoIterator<Item = (EntityId, i64, bool)>) -> Option<EntityId> {
    rooms
        .into_iter()
        .filter(|(_, _, moderation)| *moderation)
        .min_by_key(|(id, created, _)| (*created, *id))
        .map(|(id, _, _)| id)
}
