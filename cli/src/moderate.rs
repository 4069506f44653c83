//! The commands of moderation: reporting an entity, where it stands, the
//! queue, and opening a moderation vote by hand.

use anyhow::Result;
use node::identity::DataDir;
use node::local::ModerationReport;
use node::model::decide::moderation::{Asks, Effect, REPORTS_TO_FLAG};

use crate::args::Command;
use crate::{directory, parse_id, print};

/// Carries out a command of moderation.
pub(crate) fn run(command: Command, dir: &DataDir, json: bool) -> Result<()> {
    let directory = directory(dir)?;
    match command {
        Command::Report {
            id,
            reason,
            withdraw,
        } => {
            let id = parse_id(&id)?;
            let reason = reason.filter(|_| !withdraw);
            let verb = if reason.is_some() {
                "Reported"
            } else {
                "Report withdrawn"
            };
            let report = directory.report(id, reason)?;
            if json {
                // The entity as stored, and where it stands.
                let mut entity = serde_json::to_value(directory.entity(id)?)?;
                entity["moderation"] = serde_json::to_value(&report)?;
                return print::json(&entity);
            }
            println!("{verb}: {} ({id})", report.name);
            say(&report);
            Ok(())
        }
        Command::Moderation {
            id: Some(id),
            postal_code: _,
        } => {
            let report = directory.moderation(parse_id(&id)?)?;
            if json {
                return print::json(&report);
            }
            println!("{} ({})", report.name, report.entity);
            say(&report);
            for step in &report.state.steps {
                println!(
                    "  {} {}: {}",
                    match step.asks {
                        Asks::Hide => "hide",
                        Asks::Restore => "restore",
                    },
                    step.proposal,
                    effect(step.effect)
                );
            }
            Ok(())
        }
        Command::Moderation {
            id: None,
            postal_code,
        } => {
            let queue = directory.moderation_queue(postal_code.as_deref())?;
            if json {
                return print::json(&queue);
            }
            if queue.is_empty() {
                println!("Nothing to moderate: no entity is flagged, voted on or hidden.");
            }
            for report in &queue {
                println!("{} ({}, {})", report.name, report.entity, report.postal_key);
                say(report);
            }
            Ok(())
        }
        Command::Moderate { id, restore } => {
            let asks = if restore { Asks::Restore } else { Asks::Hide };
            let report = directory.moderate(parse_id(&id)?, asks)?;
            if json {
                return print::json(&report);
            }
            println!("{} ({})", report.name, report.entity);
            say(&report);
            Ok(())
        }
        _ => unreachable!("only moderation commands come here"),
    }
}

/// Where the entity stands, in a few lines.
fn say(report: &ModerationReport) {
    let state = &report.state;
    if state.hidden {
        println!(
            "  hidden by its community's decision (shown on request: `show`, `list --hidden`)"
        );
    } else {
        println!(
            "  {} of the {REPORTS_TO_FLAG} reports that flag it count{}",
            state.counted.len().min(REPORTS_TO_FLAG),
            if state.cleared.is_empty() {
                String::new()
            } else {
                format!(" ({} cleared by an earlier decision)", state.cleared.len())
            }
        );
    }
    if let Some(opened) = &report.opened {
        println!("  moderation vote opened: {opened}");
    }
    match (&state.open, report.room) {
        (Some(open), Some(room)) => println!(
            "  being voted on in the moderation room {room}: `communecter vote {open} yes|no`"
        ),
        (None, None) if state.flagged => println!(
            "  {} has no moderation room: an admin makes one with \
             `communecter room create --in {} --name Modération --moderation`, \
             then `communecter moderate {}`",
            report.postal_key, report.postal_key, report.entity
        ),
        _ => {}
    }
}

fn effect(effect: Effect) -> &'static str {
    match effect {
        Effect::Open => "being voted on",
        Effect::Hidden => "adopted: hid it",
        Effect::Kept => "refused: kept, reports cleared",
        Effect::Restored => "adopted: shown again, reports cleared",
        Effect::StaysHidden => "refused: stays hidden",
        Effect::Moot => "adopted, restored nothing (no hiding in its past)",
    }
}
