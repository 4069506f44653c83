//! Deciding together: the proposals of a room, their amendments, votes
//! and closings, all in the room's own document, and the tally every node
//! computes alike without trusting any clock.
//!
//! Layout under the room's root key `proposals` (made by the room's
//! genesis; a proposal's id is `<proposer key>.<16 hex digits>`):
//!
//! | path under `proposals/<id>` | value | who writes it, when |
//! |---|---|---|
//! | `title`, `text` | text | the proposer: at creation, and while amending or before the vote opens |
//! | `choices` | text, one choice a line (absent: yes, no) | the proposer, at creation |
//! | `majority` | uint, percent of the expressed votes to pass (strictly more), 1 to 99 | at creation |
//! | `quorum` | uint, least number of counted votes, blank ones included | at creation |
//! | `amend_until`, `vote_until` | timestamp (ms), the declared ends | at creation (`vote_until` also before the vote opens) |
//! | `votes_can_change`, `names_shown` | bool | at creation |
//! | `at` | timestamp (ms) | at creation |
//! | `moderates`, `restores` | text: an entity id | at creation, in a moderation room only ([`moderation`]) |
//! | `vote_open` | true | the proposer or a room admin, once amendments are closed (or at creation, without an amendment period) |
//! | `votes/<voter key>` | text: a choice or `blank` | each voter, in their own slot, while the vote is open |
//! | `amendments/<author key>.<16 hex>` | map {`text`, `at`, `votes`} | its author, while amending |
//! | `amendments/<id>/votes/<voter key>` | `yes`, `no` or `blank` | each voter, while amending |
//! | `closings/amendments/<closer key>`, `closings/vote/<closer key>` | timestamp (ms) | a room admin; or any voter once the declared end has passed by their change's time |
//! | `actions/<author key>.<16 hex>` | map {`title`, `start`, `end`, `at`, `status`, `volunteers`} | the proposer or a room admin, once the proposal is adopted (its resolution) |
//! | `actions/<id>/status` | `todo`, `done` or `disabled` | `todo` at creation; then the action's author or a room admin |
//! | `actions/<id>/volunteers/<key>` | bool | each volunteer, in their own slot, who takes part |
//!
//! Every container of a proposal is made by its creating change, so no two
//! authors ever make the same map concurrently. A phase ends with its
//! first closing: when closings are concurrent, the one whose change has
//! the lowest hash is the closing, on every node. The tally counts exactly
//! the votes in that change's causal past, from voters who took part as of
//! that point ([`tally`]).
//!
//! Who takes part is the room's `who`: `confirmed-members` (the default:
//! members an admin confirmed, and the admins), `members` (anyone who
//! wrote their member link, and the admins), `citizens` (people whose
//! profile is in the room's postal code: the caller tells, since that is in
//! another document; authorization lets anyone vote and the tally leaves
//! out the others), `anyone`.

use std::fmt;

use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ObjType, ROOT, ReadDoc, ScalarValue};
use serde::{Deserialize, Serialize};

use crate::document::{EditError, key as doc_key};
use crate::ids::{Actor, AuthorKey, EntityId, hex};
use crate::schema::{
    MAX_DESCRIPTION_CHARS, MAX_LABEL_CHARS, MAX_NAME_CHARS, ValidationError, check_length,
    check_visible,
};

pub mod moderation;
mod tally;

pub use tally::{
    Action, Amendment, AmendmentTally, Ballot, Closing, LeftOut, Outcome, Proposal, Tally,
    proposal, proposals, tally,
};
pub(crate) use tally::{Reader, phase_of, takes_part};

/// Keys of a proposal's map.
pub(crate) mod key {
    pub(crate) const TITLE: &str = "title";
    pub(crate) const TEXT: &str = "text";
    pub(crate) const CHOICES: &str = "choices";
    pub(crate) const MAJORITY: &str = "majority";
    pub(crate) const QUORUM: &str = "quorum";
    pub(crate) const AMEND_UNTIL: &str = "amend_until";
    pub(crate) const VOTE_UNTIL: &str = "vote_until";
    pub(crate) const VOTES_CAN_CHANGE: &str = "votes_can_change";
    pub(crate) const NAMES_SHOWN: &str = "names_shown";
    pub(crate) const VOTE_OPEN: &str = "vote_open";
    pub(crate) const AT: &str = "at";
    pub(crate) const VOTES: &str = "votes";
    pub(crate) const AMENDMENTS: &str = "amendments";
    pub(crate) const CLOSINGS: &str = "closings";
    pub(crate) const MODERATES: &str = "moderates";
    pub(crate) const RESTORES: &str = "restores";
    pub(crate) const ACTIONS: &str = "actions";
    pub(crate) const START: &str = "start";
    pub(crate) const END: &str = "end";
    pub(crate) const STATUS: &str = "status";
    pub(crate) const VOLUNTEERS: &str = "volunteers";
}

/// The default majority: strictly more than half the expressed votes.
pub const DEFAULT_MAJORITY: u8 = 50;
/// The most choices a proposal offers.
pub const MAX_CHOICES: usize = 20;
/// The vote that expresses no choice: counted for the quorum, not for the
/// majority.
pub const BLANK: &str = "blank";
/// The choices of a proposal that lists none.
pub const YES_NO: [&str; 2] = ["yes", "no"];

/// Who takes part in a room's decisions (its `who` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Who {
    /// Members an admin confirmed, and the admins: the default, and what
    /// a commune-wide room should keep (a key costs nothing to make).
    ConfirmedMembers,
    /// Anyone who wrote their member link, and the admins.
    Members,
    /// People whose profile is in the room's postal code.
    Citizens,
    /// Anyone with a key.
    Anyone,
}

impl Who {
    /// The name written in the room's `who`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Who::ConfirmedMembers => "confirmed-members",
            Who::Members => "members",
            Who::Citizens => "citizens",
            Who::Anyone => "anyone",
        }
    }

    /// The value of a room's `who`; absent or unknown is the default.
    pub fn of(text: Option<&str>) -> Who {
        match text {
            Some("members") => Who::Members,
            Some("citizens") => Who::Citizens,
            Some("anyone") => Who::Anyone,
            _ => Who::ConfirmedMembers,
        }
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Amendments are written and voted on.
    Amending,
    /// Amendments are closed (or there were none to make); the proposer may
    /// fold adopted ones into the text before the vote opens.
    Folding,
    /// The vote is open.
    Voting,
    /// The vote is closed: the outcome is final.
    Closed,
}

impl Phase {
    /// The name shown and written in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Amending => "amending",
            Phase::Folding => "folding",
            Phase::Voting => "voting",
            Phase::Closed => "closed",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which phase a closing ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The amendment phase.
    Amendments,
    /// The vote.
    Vote,
}

impl Stage {
    /// The key under `closings`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Amendments => "amendments",
            Stage::Vote => "vote",
        }
    }

    pub(crate) fn of(text: &str) -> Option<Stage> {
        match text {
            "amendments" => Some(Stage::Amendments),
            "vote" => Some(Stage::Vote),
            _ => None,
        }
    }
}

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// To do (at creation).
    Todo,
    /// Done.
    Done,
    /// Given up.
    Disabled,
}

impl ActionStatus {
    /// The name written in the document.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Todo => "todo",
            ActionStatus::Done => "done",
            ActionStatus::Disabled => "disabled",
        }
    }

    /// The status a document's text names.
    pub fn of(text: &str) -> Option<ActionStatus> {
        match text {
            "todo" => Some(ActionStatus::Todo),
            "done" => Some(ActionStatus::Done),
            "disabled" => Some(ActionStatus::Disabled),
            _ => None,
        }
    }
}

/// A new action following an adopted proposal.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewAction {
    /// What is to be done (one line, at most 120 characters).
    pub title: String,
    /// When it starts (ms).
    #[serde(default)]
    pub start: Option<i64>,
    /// When it ends (ms), after `start`.
    #[serde(default)]
    pub end: Option<i64>,
}

/// A new proposal, as its proposer writes it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewProposal {
    /// Its title (at most 120 characters, one line).
    pub title: String,
    /// Its text (at most 8,000 characters).
    pub text: String,
    /// Its choices; empty for yes / no. `blank` is always possible.
    #[serde(default)]
    pub choices: Vec<String>,
    /// Percent of the expressed votes a choice needs, strictly more
    /// ([`DEFAULT_MAJORITY`] when absent).
    #[serde(default)]
    pub majority: Option<u8>,
    /// Least number of counted votes (blank ones included).
    #[serde(default)]
    pub quorum: Option<u32>,
    /// Declared end of the amendment period (ms); none: no amendments,
    /// the vote opens at once.
    #[serde(default)]
    pub amend_until: Option<i64>,
    /// Declared end of the vote (ms); none: only an admin closes it.
    #[serde(default)]
    pub vote_until: Option<i64>,
    /// Whether a voter may change their vote while it is open.
    #[serde(default)]
    pub votes_can_change: bool,
    /// Whether pages show who voted what. Votes are signed: anyone who
    /// reads the data sees them either way.
    #[serde(default)]
    pub names_shown: bool,
    /// In a moderation room: the entity this proposal would hide. Its
    /// shape is fixed ([`moderation::new_proposal`] makes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderates: Option<EntityId>,
    /// In a moderation room: the hidden entity this proposal would show
    /// again. Its shape is fixed ([`moderation::new_proposal`] makes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restores: Option<EntityId>,
}

/// One decision a citizen makes in a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Makes a proposal; `nonce` makes its id.
    Propose {
        /// 8 random bytes (a node draws its own).
        #[serde(default)]
        nonce: [u8; 8],
        /// What is proposed.
        proposal: NewProposal,
    },
    /// Proposes an amendment to a proposal's text.
    Amend {
        /// The proposal's id.
        proposal: String,
        /// 8 random bytes (a node draws its own).
        #[serde(default)]
        nonce: [u8; 8],
        /// The amendment's text.
        text: String,
    },
    /// The proposer rewrites the title or text (folding adopted amendments
    /// in), before the vote opens.
    Reword {
        /// The proposal's id.
        proposal: String,
        /// A new title.
        title: Option<String>,
        /// A new text.
        text: Option<String>,
    },
    /// Opens the vote (the proposer or a room admin), once amendments are
    /// closed.
    OpenVote {
        /// The proposal's id.
        proposal: String,
    },
    /// Votes on a proposal: one of its choices, or `blank`.
    Vote {
        /// The proposal's id.
        proposal: String,
        /// The choice.
        choice: String,
    },
    /// Votes on an amendment: `yes`, `no` or `blank`.
    VoteAmendment {
        /// The proposal's id.
        proposal: String,
        /// The amendment's id.
        amendment: String,
        /// The choice.
        choice: String,
    },
    /// Adds an action to an adopted proposal (the proposer or a room
    /// admin); `nonce` makes its id.
    AddAction {
        /// The proposal's id.
        proposal: String,
        /// 8 random bytes (a node draws its own).
        #[serde(default)]
        nonce: [u8; 8],
        /// The action.
        action: NewAction,
    },
    /// Sets an action's status (its author or a room admin).
    SetActionStatus {
        /// The proposal's id.
        proposal: String,
        /// The action's id.
        action: String,
        /// The new status.
        status: ActionStatus,
    },
    /// Volunteers for an action (`volunteer` false: withdraws).
    Volunteer {
        /// The proposal's id.
        proposal: String,
        /// The action's id.
        action: String,
        /// Whether the citizen volunteers.
        volunteer: bool,
    },
    /// Closes a phase.
    Close {
        /// The proposal's id.
        proposal: String,
        /// Which phase.
        stage: Stage,
    },
}

/// The id of a proposal or an amendment: its author's key and a nonce.
pub fn slot_id(author: &AuthorKey, nonce: &[u8; 8]) -> String {
    format!("{author}.{}", hex(nonce))
}

/// The author a proposal or amendment id names, if it is well formed.
pub fn author_of(id: &str) -> Option<AuthorKey> {
    let (author, nonce) = id.split_once('.')?;
    (nonce.len() == 16
        && nonce
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then_some(())?;
    author.parse().ok()
}

/// The choices a `choices` text lists, checked: 2 to [`MAX_CHOICES`],
/// each one line of at most 60 characters, distinct, none `blank`.
pub fn parse_choices(text: &str) -> Result<Vec<String>, ValidationError> {
    let choices: Vec<String> = text.split('\n').map(str::to_owned).collect();
    check_choices(&choices)?;
    Ok(choices)
}

fn check_choices(choices: &[String]) -> Result<(), ValidationError> {
    let refuse = |reason: &str| ValidationError::NotAllowed {
        field: "choices",
        value: choices.join(", "),
        allowed: reason.to_owned(),
    };
    if choices.len() < 2 || choices.len() > MAX_CHOICES {
        return Err(refuse("2 to 20 choices"));
    }
    for (at, choice) in choices.iter().enumerate() {
        check_visible("choice", choice, true)?;
        check_length("choice", choice, MAX_LABEL_CHARS)?;
        if choice.chars().any(char::is_control) || choice.trim() != choice {
            return Err(refuse("choices of one line, without spaces around"));
        }
        if choice == BLANK || choices[..at].contains(choice) {
            return Err(refuse("distinct choices, none of them \"blank\""));
        }
    }
    Ok(())
}

/// Checks a proposal's or amendment's title (one line) or text.
pub(crate) fn check_words(field: &'static str, text: &str) -> Result<(), ValidationError> {
    let max = if field == key::TITLE {
        MAX_NAME_CHARS
    } else {
        MAX_DESCRIPTION_CHARS
    };
    check_visible(field, text, true)?;
    check_length(field, text, max)?;
    let one_line = field == key::TITLE;
    if text
        .chars()
        .any(|c| c.is_control() && (one_line || !matches!(c, '\n' | '\t')))
    {
        return Err(ValidationError::ControlCharacters { field });
    }
    Ok(())
}

/// Makes one change holding `decision`, by `actor`, on the room `doc`, and
/// checks it with the same authorization as a remote change (so a vote out
/// of its phase, a second vote or an early closing is refused here too).
/// Returns the change, and the id of what it made (a proposal, an
/// amendment).
pub fn decide(
    doc: &Automerge,
    actor: &Actor,
    now_ms: i64,
    decision: &Decision,
) -> Result<(automerge::Change, Option<String>), EditError> {
    let (id, _) = crate::document::identity(doc)?;
    let mut fork = doc.fork();
    fork.set_actor(actor.actor_id());
    let mut tx = fork.transaction();
    let me = actor.author.to_string();
    let proposals = match tx.get(ROOT, doc_key::PROPOSALS)? {
        Some((automerge::Value::Object(ObjType::Map), proposals)) => proposals,
        _ => {
            return Err(EditError::Document(
                "this entity is not a room: it has no proposals".into(),
            ));
        }
    };
    let existing =
        |tx: &automerge::transaction::Transaction<'_>, id: &str| match tx.get(&proposals, id) {
            Ok(Some((automerge::Value::Object(ObjType::Map), obj))) => Ok(obj),
            _ => Err(EditError::Document(format!(
                "no proposal {id} in this room"
            ))),
        };
    let mut made = None;
    match decision {
        Decision::Propose { nonce, proposal } => {
            check_words(key::TITLE, &proposal.title)?;
            check_words(key::TEXT, &proposal.text)?;
            if !proposal.choices.is_empty() {
                check_choices(&proposal.choices)?;
            }
            let pid = slot_id(&actor.author, nonce);
            let obj = tx.put_object(&proposals, pid.as_str(), ObjType::Map)?;
            tx.put(&obj, key::TITLE, proposal.title.as_str())?;
            tx.put(&obj, key::TEXT, proposal.text.as_str())?;
            if !proposal.choices.is_empty() {
                tx.put(&obj, key::CHOICES, proposal.choices.join("\n"))?;
            }
            let majority = proposal.majority.unwrap_or(DEFAULT_MAJORITY);
            tx.put(&obj, key::MAJORITY, ScalarValue::Uint(u64::from(majority)))?;
            if let Some(quorum) = proposal.quorum {
                tx.put(&obj, key::QUORUM, ScalarValue::Uint(u64::from(quorum)))?;
            }
            if let Some(until) = proposal.amend_until {
                tx.put(&obj, key::AMEND_UNTIL, ScalarValue::Timestamp(until))?;
            }
            if let Some(until) = proposal.vote_until {
                tx.put(&obj, key::VOTE_UNTIL, ScalarValue::Timestamp(until))?;
            }
            tx.put(&obj, key::VOTES_CAN_CHANGE, proposal.votes_can_change)?;
            tx.put(&obj, key::NAMES_SHOWN, proposal.names_shown)?;
            if let Some(item) = proposal.moderates {
                tx.put(&obj, key::MODERATES, item.to_string())?;
            }
            if let Some(item) = proposal.restores {
                tx.put(&obj, key::RESTORES, item.to_string())?;
            }
            tx.put(&obj, key::AT, ScalarValue::Timestamp(now_ms))?;
            if proposal.amend_until.is_none() {
                tx.put(&obj, key::VOTE_OPEN, true)?;
            }
            tx.put_object(&obj, key::VOTES, ObjType::Map)?;
            tx.put_object(&obj, key::AMENDMENTS, ObjType::Map)?;
            tx.put_object(&obj, key::ACTIONS, ObjType::Map)?;
            let closings = tx.put_object(&obj, key::CLOSINGS, ObjType::Map)?;
            for stage in [Stage::Amendments, Stage::Vote] {
                tx.put_object(&closings, stage.as_str(), ObjType::Map)?;
            }
            made = Some(pid);
        }
        Decision::Amend {
            proposal,
            nonce,
            text,
        } => {
            check_words(key::TEXT, text)?;
            let obj = existing(&tx, proposal)?;
            let amendments = child(&tx, &obj, key::AMENDMENTS)?;
            let aid = slot_id(&actor.author, nonce);
            let amendment = tx.put_object(&amendments, aid.as_str(), ObjType::Map)?;
            tx.put(&amendment, key::TEXT, text.as_str())?;
            tx.put(&amendment, key::AT, ScalarValue::Timestamp(now_ms))?;
            tx.put_object(&amendment, key::VOTES, ObjType::Map)?;
            made = Some(aid);
        }
        Decision::Reword {
            proposal,
            title,
            text,
        } => {
            let obj = existing(&tx, proposal)?;
            if title.is_none() && text.is_none() {
                return Err(EditError::Document("nothing to reword".into()));
            }
            if let Some(title) = title {
                check_words(key::TITLE, title)?;
                tx.put(&obj, key::TITLE, title.as_str())?;
            }
            if let Some(text) = text {
                check_words(key::TEXT, text)?;
                tx.put(&obj, key::TEXT, text.as_str())?;
            }
        }
        Decision::OpenVote { proposal } => {
            let obj = existing(&tx, proposal)?;
            tx.put(&obj, key::VOTE_OPEN, true)?;
        }
        Decision::Vote { proposal, choice } => {
            let obj = existing(&tx, proposal)?;
            let votes = child(&tx, &obj, key::VOTES)?;
            tx.put(&votes, me.as_str(), choice.as_str())?;
        }
        Decision::VoteAmendment {
            proposal,
            amendment,
            choice,
        } => {
            let obj = existing(&tx, proposal)?;
            let amendments = child(&tx, &obj, key::AMENDMENTS)?;
            let amendment = child(&tx, &amendments, amendment).map_err(|_| {
                EditError::Document(format!("no amendment {amendment} to this proposal"))
            })?;
            let votes = child(&tx, &amendment, key::VOTES)?;
            tx.put(&votes, me.as_str(), choice.as_str())?;
        }
        Decision::AddAction {
            proposal,
            nonce,
            action,
        } => {
            check_words(key::TITLE, &action.title)?;
            let obj = existing(&tx, proposal)?;
            let actions = child(&tx, &obj, key::ACTIONS)?;
            let aid = slot_id(&actor.author, nonce);
            let made_action = tx.put_object(&actions, aid.as_str(), ObjType::Map)?;
            tx.put(&made_action, key::TITLE, action.title.as_str())?;
            for (name, time) in [(key::START, action.start), (key::END, action.end)] {
                if let Some(time) = time {
                    tx.put(&made_action, name, ScalarValue::Timestamp(time))?;
                }
            }
            tx.put(&made_action, key::AT, ScalarValue::Timestamp(now_ms))?;
            tx.put(&made_action, key::STATUS, ActionStatus::Todo.as_str())?;
            tx.put_object(&made_action, key::VOLUNTEERS, ObjType::Map)?;
            made = Some(aid);
        }
        Decision::SetActionStatus {
            proposal,
            action,
            status,
        } => {
            let action = action_of(&tx, &existing(&tx, proposal)?, action)?;
            tx.put(&action, key::STATUS, status.as_str())?;
        }
        Decision::Volunteer {
            proposal,
            action,
            volunteer,
        } => {
            let action = action_of(&tx, &existing(&tx, proposal)?, action)?;
            let volunteers = child(&tx, &action, key::VOLUNTEERS)?;
            tx.put(&volunteers, me.as_str(), *volunteer)?;
        }
        Decision::Close { proposal, stage } => {
            let obj = existing(&tx, proposal)?;
            let closings = child(&tx, &obj, key::CLOSINGS)?;
            let stage = child(&tx, &closings, stage.as_str())?;
            tx.put(&stage, me.as_str(), ScalarValue::Timestamp(now_ms))?;
        }
    }
    let (hash, _) = tx.commit_with(
        automerge::transaction::CommitOptions::default().with_time(now_ms.div_euclid(1000)),
    );
    let change = hash
        .and_then(|hash| fork.get_change_by_hash(&hash))
        .ok_or_else(|| EditError::Document("the decision changes nothing".into()))?;
    crate::authz::authorize(doc, &id, &actor.author, &change).map_err(EditError::NotAllowed)?;
    Ok((change, made))
}

/// The action `id` of the proposal `obj`.
fn action_of(
    tx: &automerge::transaction::Transaction<'_>,
    obj: &automerge::ObjId,
    id: &str,
) -> Result<automerge::ObjId, EditError> {
    let actions = child(tx, obj, key::ACTIONS)?;
    child(tx, &actions, id)
        .map_err(|_| EditError::Document(format!("no action {id} of this proposal")))
}

/// The map at `name` of `obj`.
fn child(
    tx: &automerge::transaction::Transaction<'_>,
    obj: &automerge::ObjId,
    name: &str,
) -> Result<automerge::ObjId, EditError> {
    use automerge::ReadDoc;
    match tx.get(obj, name)? {
        Some((automerge::Value::Object(ObjType::Map), child)) => Ok(child),
        _ => Err(EditError::Document(format!("the proposal has no {name}"))),
    }
}

/// A time in milliseconds as ISO 8601 in UTC (`2026-12-20T19:00:00Z`).
pub fn iso_utc(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Days to a civil date (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

/// A change's hash as text, for the tally's listing.
pub fn hash_text(hash: &ChangeHash) -> String {
    hex(&hash.0)
}
