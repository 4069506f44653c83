//! The commands of deciding together: rooms, proposals, amendments, votes,
//! closings and tallies.

use anyhow::{Context, Result, bail};
use node::api::Directory;
use node::identity::DataDir;
use node::local::TallyReport;
use node::model::decide::{
    ActionStatus, Decision, LeftOut, NewAction, NewProposal, Outcome, Stage, iso_utc,
};
use node::model::document::NewEntity;
use node::model::ids::{AuthorKey, EntityId};
use node::model::schema::{Field, Kind, Value, check_postal_key};

use crate::args::{ActionCommand, Command, RoomAction};
use crate::{directory, parse_id, print};

/// Carries out a command of deciding together.
pub(crate) fn run(command: Command, dir: &DataDir, json: bool) -> Result<()> {
    let directory = directory(dir)?;
    let decided = |room: Option<EntityId>, decision: Decision, verb: &str| -> Result<()> {
        let report = directory.decide(room, &decision)?;
        if json {
            return print::json(&report);
        }
        let proposal = &report.tally.proposal;
        match &report.made {
            Some(made) if made == &proposal.id => {
                println!(
                    "{verb} {:?} in {}: {}",
                    proposal.title, report.room_name, proposal.id
                );
            }
            Some(made) => println!("{verb} on {:?}: {made}", proposal.title),
            None => println!("{verb}: {:?}, now {}", proposal.title, proposal.phase),
        }
        Ok(())
    };
    match command {
        Command::Room {
            action:
                RoomAction::Create {
                    parent,
                    name,
                    who,
                    moderation,
                },
        } => {
            if !node::model::schema::WHO_VALUES.contains(&who.as_str()) {
                bail!(
                    "--who takes one of {}, got {who:?}",
                    node::model::schema::WHO_VALUES.join(", ")
                );
            }
            // In an entity, or the commune of a postal code.
            let (postal_code, country) = match parent.parse::<EntityId>() {
                Ok(id) => {
                    let entity = directory.entity(id)?;
                    (entity.address.postal_code, entity.address.country)
                }
                Err(_) => {
                    check_postal_key(parent.trim()).with_context(|| {
                        format!("--in takes an entity id or a postal code, got {parent:?}")
                    })?;
                    (parent.trim().to_owned(), "FR".to_owned())
                }
            };
            let new = NewEntity {
                postal_code: Some(postal_code),
                country: Some(country),
                ..NewEntity::new(
                    Kind::Room,
                    &name,
                    vec![
                        node::model::document::Edit::Set(Field::Who, Value::Text(who)),
                        node::model::document::Edit::Set(
                            Field::Parent,
                            Value::Text(parent.trim().to_owned()),
                        ),
                    ]
                    .into_iter()
                    .chain(moderation.then_some(node::model::document::Edit::Set(
                        Field::Moderation,
                        Value::Bool(true),
                    )))
                    .collect(),
                )
            };
            let room = directory.add(&new)?;
            print::entity_written(&room, "Made", json)
        }
        Command::Propose {
            room,
            title,
            text,
            choices,
            majority,
            quorum,
            amend_until,
            vote_until,
            votes_can_change,
            names_shown,
        } => {
            let room = parse_id(&room)?;
            let now = node::local::now_ms();
            let proposal = NewProposal {
                title,
                text,
                choices: choices.into_iter().map(|c| c.trim().to_owned()).collect(),
                majority: Some(majority),
                quorum,
                amend_until: amend_until.as_deref().map(|d| when(d, now)).transpose()?,
                vote_until: vote_until.as_deref().map(|d| when(d, now)).transpose()?,
                votes_can_change,
                names_shown,
                ..NewProposal::default()
            };
            decided(
                Some(room),
                Decision::Propose {
                    nonce: [0; 8],
                    proposal,
                },
                "Proposed",
            )
        }
        Command::Amend { proposal, text } => decided(
            None,
            Decision::Amend {
                proposal,
                nonce: [0; 8],
                text,
            },
            "Amendment proposed",
        ),
        Command::Reword {
            proposal,
            title,
            text,
        } => {
            if title.is_none() && text.is_none() {
                bail!("nothing to reword: give --title or --text");
            }
            decided(
                None,
                Decision::Reword {
                    proposal,
                    title,
                    text,
                },
                "Reworded",
            )
        }
        Command::OpenVote { proposal } => {
            decided(None, Decision::OpenVote { proposal }, "Vote opened")
        }
        Command::Vote {
            proposal,
            choice,
            amendment,
        } => {
            let decision = match amendment {
                Some(amendment) => Decision::VoteAmendment {
                    proposal,
                    amendment,
                    choice,
                },
                None => Decision::Vote { proposal, choice },
            };
            decided(None, decision, "Voted")
        }
        Command::Action {
            action:
                ActionCommand::Add {
                    proposal,
                    title,
                    start,
                    end,
                },
        } => {
            let now = node::local::now_ms();
            let action = NewAction {
                title,
                start: start.as_deref().map(|d| when(d, now)).transpose()?,
                end: end.as_deref().map(|d| when(d, now)).transpose()?,
            };
            decided(
                None,
                Decision::AddAction {
                    proposal,
                    nonce: [0; 8],
                    action,
                },
                "Action added",
            )
        }
        Command::Action {
            action:
                ActionCommand::Status {
                    proposal,
                    action,
                    status,
                },
        } => {
            let Some(status) = ActionStatus::of(status.trim()) else {
                bail!("an action's status is todo, done or disabled, got {status:?}");
            };
            decided(
                None,
                Decision::SetActionStatus {
                    proposal,
                    action,
                    status,
                },
                "Status set",
            )
        }
        Command::Action {
            action:
                ActionCommand::Volunteer {
                    proposal,
                    action,
                    withdraw,
                },
        } => decided(
            None,
            Decision::Volunteer {
                proposal,
                action,
                volunteer: !withdraw,
            },
            if withdraw { "Withdrawn" } else { "Volunteered" },
        ),
        Command::Close {
            proposal,
            amendments,
        } => {
            let stage = if amendments {
                Stage::Amendments
            } else {
                Stage::Vote
            };
            decided(None, Decision::Close { proposal, stage }, "Closed")
        }
        Command::Tally { proposal, verify } => show(&*directory, &proposal, verify, json),
        _ => unreachable!("not a command of deciding together"),
    }
}

/// A declared end: an ISO date or date-time (UTC unless it says its
/// offset), or a delay from `now_ms` (`48h`, `7d`, `90m`).
fn when(text: &str, now_ms: i64) -> Result<i64> {
    let text = text.trim();
    for (unit, ms) in [("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)] {
        if let Some(count) = text.strip_suffix(unit)
            && let Ok(count) = count.parse::<i64>()
            && count > 0
        {
            return Ok(now_ms.saturating_add(count.saturating_mul(ms)));
        }
    }
    let date = node::model::schema::DateKey::parse(text).with_context(|| {
        format!("{text:?} is neither a date (2026-12-20T19:00, UTC unless it says +04:00) nor a delay (48h, 7d)")
    })?;
    Ok(date.unix_seconds().saturating_mul(1000))
}

/// A proposal's tally, for a person or a script.
pub(crate) fn show(
    directory: &dyn Directory,
    proposal: &str,
    verify: bool,
    json: bool,
) -> Result<()> {
    let report = directory.tally(proposal, verify)?;
    if json {
        print::json(&report)?;
    } else {
        print_tally(directory, &report, verify);
    }
    if let Some(verified) = &report.verified
        && !verified.same
    {
        bail!(
            "the tally recomputed from the {} signed changes differs from the stored one: run `communecter check`",
            verified.changes
        );
    }
    Ok(())
}

fn print_tally(directory: &dyn Directory, report: &TallyReport, verify: bool) {
    let tally = &report.tally;
    let proposal = &tally.proposal;
    let me = directory.status().ok().and_then(|status| match status {
        node::api::types::Status::Joined(joined) => Some(joined.author),
        node::api::types::Status::NotJoined(_) => None,
    });
    let name = |key: &AuthorKey| {
        directory
            .entity(EntityId::person_of(key))
            .map(|person| person.name().to_owned())
            .unwrap_or_else(|_| "(no profile here)".to_owned())
    };
    let outcome = match &tally.outcome {
        Outcome::Open => "open".to_owned(),
        Outcome::QuorumNotReached => "quorum not reached".to_owned(),
        Outcome::Adopted => "adopted".to_owned(),
        Outcome::Rejected => "rejected".to_owned(),
        Outcome::Chosen(choice) => format!("chosen: {choice}"),
        Outcome::NoMajority => "no choice had the majority".to_owned(),
    };
    println!("{} — {}: {outcome}", proposal.title, proposal.phase);
    println!("  in {} ({})", report.room_name, report.room);
    println!("  proposal {} by {}", proposal.id, name(&proposal.proposer));
    println!(
        "  passes with more than {} % of the expressed votes{}",
        proposal.majority,
        proposal
            .quorum
            .map(|quorum| format!(", at least {quorum} votes counted"))
            .unwrap_or_default()
    );
    // In the proposal's order, blank last.
    let counts: Vec<String> = proposal
        .choices
        .iter()
        .map(String::as_str)
        .chain(["blank"])
        .map(|choice| {
            format!(
                "{choice} {}",
                tally.counts.get(choice).copied().unwrap_or(0)
            )
        })
        .collect();
    println!("  {} ({} counted)", counts.join(" · "), tally.counted.len());
    if let Some(closing) = &tally.closing {
        println!(
            "  closed by {} (change {}, {} closing{} written)",
            name(&closing.by),
            &closing.change[..16],
            closing.closings,
            if closing.closings == 1 { "" } else { "s" }
        );
    }
    if let Some(me) = me {
        match tally.counted.iter().find(|ballot| ballot.voter == me) {
            Some(ballot) => println!("  your vote: {} (counted)", ballot.choice),
            None => match tally.left_out.iter().find(|(voter, _)| *voter == me) {
                Some((_, why)) => println!("  your vote: not counted ({})", left_out(*why)),
                None => println!("  your vote: none"),
            },
        }
    }
    // Who voted what: on request, or when the proposal shows names.
    if verify || proposal.names_shown {
        println!("Counted votes:");
        for ballot in &tally.counted {
            println!(
                "  {}  {}  {}",
                ballot.voter,
                ballot.choice,
                name(&ballot.voter)
            );
        }
        for (voter, why) in &tally.left_out {
            println!("  {voter}  not counted: {}", left_out(*why));
        }
    }
    for (amendment, result) in proposal.amendments.iter().zip(&tally.amendments) {
        let adopted = match result.adopted {
            Some(true) => "adopted",
            Some(false) => "not adopted",
            None => "open",
        };
        println!(
            "  amendment {} by {}: {adopted} (yes {}, no {}, blank {}): {}",
            amendment.id,
            name(&amendment.author),
            result.yes,
            result.no,
            result.blank,
            amendment.text
        );
    }
    for action in &proposal.actions {
        let dates = match (action.start, action.end) {
            (Some(start), Some(end)) => format!(", {} → {}", iso_utc(start), iso_utc(end)),
            (Some(start), None) => format!(", from {}", iso_utc(start)),
            (None, Some(end)) => format!(", until {}", iso_utc(end)),
            (None, None) => String::new(),
        };
        let volunteers: Vec<String> = action.volunteers.iter().map(name).collect();
        println!(
            "  action {} ({}{dates}): {}; volunteers: {}",
            action.id,
            action.status.as_str(),
            action.title,
            if volunteers.is_empty() {
                "none yet".to_owned()
            } else {
                volunteers.join(", ")
            }
        );
    }
    if let Some(verified) = &report.verified {
        println!(
            "Verified: {} signed changes of the room checked again; {}.",
            verified.changes,
            if verified.same {
                "the same tally"
            } else {
                "A DIFFERENT TALLY"
            }
        );
    }
}

fn left_out(why: LeftOut) -> &'static str {
    match why {
        LeftOut::AfterClosing => "written after the closing",
        LeftOut::NotEligible => "not taking part when it closed",
    }
}
