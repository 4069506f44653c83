//! A commune votes: one room of confirmed members, a proposal, voters
//! voting over time, a partition during the vote with an admin closing on
//! each side; after the heal, the time until every node reports the same
//! tally (the lower-hash closing, the votes in its past).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use node::model::decide::{Decision, NewProposal, Stage, Tally};
use node::model::document::{Edit, NewEntity};
use node::model::ids::EntityId;
use node::model::schema::{Field, Kind, Value};
use serde_json::json;

use crate::runs::{Report, build};
use crate::scenario::Scenario;
use crate::{SimError, Simulation};

/// Makes `decision` through node `number`.
async fn decide(
    sim: &Simulation,
    number: u32,
    room: Option<EntityId>,
    decision: Decision,
) -> Result<node::local::TallyReport, SimError> {
    let local = sim.nodes[number as usize].local.clone();
    Ok(tokio::task::spawn_blocking(move || local.decide(room, &decision)).await??)
}

/// Each node's tally of `proposal`, `None` where the node lacks it.
async fn tallies(sim: &Simulation, proposal: &str) -> Result<Vec<Option<Tally>>, SimError> {
    let locals: Vec<_> = sim.nodes.iter().map(|node| node.local.clone()).collect();
    let proposal = proposal.to_owned();
    Ok(tokio::task::spawn_blocking(move || {
        locals
            .iter()
            .map(|local| {
                local
                    .tally(&proposal, false)
                    .ok()
                    .map(|report| report.tally)
            })
            .collect()
    })
    .await?)
}

/// Waits until every node reports the same closed tally; returns how long
/// it took and that tally.
async fn agreed(
    sim: &Simulation,
    proposal: &str,
    limit: Duration,
) -> Result<(Duration, Tally), SimError> {
    let started = Instant::now();
    loop {
        let all = tallies(sim, proposal).await?;
        if let Some(Some(first)) = all.first()
            && first.closing.is_some()
            && all.iter().all(|tally| tally.as_ref() == Some(first))
        {
            return Ok((started.elapsed(), first.clone()));
        }
        if started.elapsed() > limit {
            let closed = all
                .iter()
                .filter(|tally| tally.as_ref().is_some_and(|t| t.closing.is_some()))
                .count();
            return Err(format!(
                "no agreement after {limit:?}: {closed} of {} nodes see a closing",
                all.len()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs the `vote` scenario.
pub async fn vote(scenario: &Scenario) -> Result<Report, SimError> {
    let mut sim = build(scenario).await?;
    let key = sim.nodes[0].postal_key.clone();
    let nodes = sim.nodes.len() as u32;
    let voters = scenario.vote.voters.min(nodes);
    let slow = scenario.network.slow_motion;
    // Two halves: even and odd nodes; an admin on each side (0 and 1).
    let (west, east): (Vec<u32>, Vec<u32>) = (0..nodes).partition(|n| n % 2 == 0);
    let local = sim.nodes[0].local.clone();
    let room = tokio::task::spawn_blocking(move || {
        local.add(&NewEntity::new(
            Kind::Room,
            "Conseil de quartier",
            vec![Edit::Set(
                Field::Who,
                Value::Text("confirmed-members".into()),
            )],
        ))
    })
    .await??
    .id;
    let mut confirm: Vec<Edit> = (0..voters)
        .map(|n| Edit::ConfirmMember(sim.nodes[n as usize].local.identity.author()))
        .collect();
    confirm.push(Edit::AddAdmin(sim.nodes[1].local.identity.author()));
    sim.edit(0, room, confirm).await?;
    sim.converged(&key, Duration::from_secs(300)).await?;
    let window = Duration::from_secs(scenario.vote.seconds).mul_f64(slow);
    let made = decide(
        &sim,
        0,
        Some(room),
        Decision::Propose {
            nonce: [0; 8],
            proposal: NewProposal {
                title: "Bancs au parc".into(),
                text: "Installer deux bancs près des jeux.".into(),
                vote_until: Some(node::local::now_ms() + window.as_millis() as i64),
                ..NewProposal::default()
            },
        },
    )
    .await?;
    let proposal = made.made.ok_or("the proposal has no id")?;
    sim.converged(&key, Duration::from_secs(300)).await?;

    // The voters in a random order, spread over the window; the commune
    // splits half-way.
    let mut order: Vec<u32> = (0..voters).collect();
    for i in (1..order.len()).rev() {
        let j = (sim.random() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let gap = window / voters.max(1);
    let mut cast = BTreeMap::new();
    let mut split_at = None;
    for (i, voter) in order.iter().enumerate() {
        if i == order.len() / 2 {
            sim.links.partition(&west, &east);
            split_at = Some(Instant::now());
        }
        let choice = if sim.random() % 10 < 6 { "yes" } else { "no" };
        decide(
            &sim,
            *voter,
            None,
            Decision::Vote {
                proposal: proposal.clone(),
                choice: choice.into(),
            },
        )
        .await?;
        cast.insert(*voter, choice);
        tokio::time::sleep(gap).await;
    }
    // An admin closes on each side, neither seeing the other's.
    let close = Decision::Close {
        proposal: proposal.clone(),
        stage: Stage::Vote,
    };
    let west_side = decide(&sim, 0, None, close.clone()).await?.tally;
    let east_side = decide(&sim, 1, None, close).await?.tally;
    tokio::time::sleep(Duration::from_secs(scenario.partition.seconds).mul_f64(slow)).await;
    let apart = split_at.map(|at| at.elapsed()).unwrap_or_default();
    sim.links.heal();
    let (took, tally) = agreed(&sim, &proposal, Duration::from_secs(600)).await?;
    let closing = tally.closing.clone().ok_or("no closing")?;
    let winner = if closing.change == west_side.closing.as_ref().ok_or("west")?.change {
        "west"
    } else {
        "east"
    };
    let expected = if winner == "west" {
        &west_side
    } else {
        &east_side
    };
    if tally.counted != expected.counted || tally.outcome != expected.outcome {
        return Err(format!("the agreed tally is not the {winner} side's").into());
    }
    let seconds = took.as_secs_f64() / slow;
    let lines = vec![
        format!(
            "vote: {nodes} nodes on {key}, one room of {voters} confirmed members, {} votes cast over {} s; split in two half-way, an admin closing on each side",
            cast.len(),
            scenario.vote.seconds
        ),
        format!(
            "apart {:.1} s; west side counted {} votes ({:?}), east side {} ({:?})",
            apart.as_secs_f64() / slow,
            west_side.counted.len(),
            west_side.outcome,
            east_side.counted.len(),
            east_side.outcome
        ),
        format!(
            "healed: every node reports the same tally {seconds:.1} s later: the {winner} closing (lower hash), {} votes counted, {} left out, outcome {:?}",
            tally.counted.len(),
            tally.left_out.len(),
            tally.outcome
        ),
    ];
    let json = json!({
        "scenario": "vote",
        "nodes": nodes,
        "voters": voters,
        "votes_cast": cast.len(),
        "west_counted": west_side.counted.len(),
        "east_counted": east_side.counted.len(),
        "closing_side": winner,
        "counted": tally.counted.len(),
        "left_out": tally.left_out.len(),
        "outcome": tally.outcome,
        "agreement_s": seconds,
    });
    Ok(Report { lines, json })
}
