//! Deciding together: proposals, amendments, votes and closings, refused
//! where the rules say so and tallied alike on every replica.

mod common;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc, ScalarValue};
use common::*;
use crdt_model::authz::{DecisionError, Reject};
use crdt_model::decide::{
    self, Decision, LeftOut, NewProposal, Outcome, Phase, Stage, Tally, moderation,
};
use crdt_model::document::{EditError, Relation};
use crdt_model::ids::{AuthorKey, EntityId};
use crdt_model::schema::{Field, Kind, Value};

/// A room made by author 1 where `who` takes part.
fn room(who: &str) -> (EntityId, Automerge) {
    new_entity(
        Kind::Room,
        1,
        &[Edit::Set(Field::Who, Value::Text(who.into()))],
    )
}

use crdt_model::document::Edit;

/// Makes `decision` as author `n` at `now` and ingests it; the id of what
/// it made.
fn decide_as(
    doc: &mut Automerge,
    id: &EntityId,
    n: u8,
    now: i64,
    decision: &Decision,
) -> Result<Option<String>, EditError> {
    let (change, made) = decide::decide(doc, &actor(n), now, decision)?;
    ingest(doc, id, &author(n), change).map_err(EditError::NotAllowed)?;
    Ok(made)
}

fn refusal(result: Result<Option<String>, EditError>) -> DecisionError {
    match result {
        Err(EditError::NotAllowed(Reject::Decision { error, .. })) => error,
        other => panic!("expected a refused decision, got {other:?}"),
    }
}

/// The change of a new proposal by author `n`, or why it is refused.
fn try_propose(
    doc: &Automerge,
    n: u8,
    proposal: NewProposal,
) -> Result<(automerge::Change, Option<String>), EditError> {
    decide::decide(
        doc,
        &actor(n),
        NOW,
        &Decision::Propose {
            nonce: [n; 8],
            proposal,
        },
    )
}

fn propose(doc: &mut Automerge, id: &EntityId, n: u8, proposal: NewProposal) -> String {
    decide_as(
        doc,
        id,
        n,
        NOW,
        &Decision::Propose {
            nonce: [n; 8],
            proposal,
        },
    )
    .expect("the proposal is accepted")
    .expect("it has an id")
}

fn simple(title: &str) -> NewProposal {
    NewProposal {
        title: title.into(),
        text: "Ouvrir le jardin partagé le dimanche.".into(),
        ..NewProposal::default()
    }
}

fn vote(proposal: &str, choice: &str) -> Decision {
    Decision::Vote {
        proposal: proposal.into(),
        choice: choice.into(),
    }
}

fn close(proposal: &str, stage: Stage) -> Decision {
    Decision::Close {
        proposal: proposal.into(),
        stage,
    }
}

fn nobody_is_a_citizen(_: &AuthorKey) -> bool {
    false
}

fn tally(doc: &Automerge, proposal: &str) -> Tally {
    decide::tally(doc, proposal, &nobody_is_a_citizen).expect("the proposal exists")
}

#[test]
fn a_proposal_is_voted_closed_and_tallied() {
    let (id, mut doc) = room("anyone");
    let p = propose(&mut doc, &id, 1, simple("Jardin le dimanche"));
    assert!(p.starts_with(&author(1).to_string()));
    assert_eq!(decide::proposal(&doc, &p).unwrap().phase, Phase::Voting);
    for (n, choice) in [(2, "yes"), (3, "yes"), (4, "no"), (5, "blank")] {
        decide_as(&mut doc, &id, n, NOW + 1, &vote(&p, choice)).unwrap();
    }
    // Open: the current votes, no outcome yet.
    let open = tally(&doc, &p);
    assert_eq!(open.outcome, Outcome::Open);
    assert_eq!(open.counted.len(), 4);
    decide_as(&mut doc, &id, 1, NOW + 2, &close(&p, Stage::Vote)).unwrap();
    let closed = tally(&doc, &p);
    assert_eq!(closed.proposal.phase, Phase::Closed);
    assert_eq!(closed.outcome, Outcome::Adopted);
    assert_eq!(
        closed
            .counts
            .iter()
            .map(|(c, n)| (c.as_str(), *n))
            .collect::<Vec<_>>(),
        [("blank", 1), ("no", 1), ("yes", 2)]
    );
    let closing = closed.closing.unwrap();
    assert_eq!((closing.by, closing.closings), (author(1), 1));
    // Each voter finds their own vote among those counted.
    assert!(
        closed
            .counted
            .iter()
            .any(|ballot| ballot.voter == author(4) && ballot.choice == "no")
    );
    // A vote after the closing is refused.
    assert_eq!(
        refusal(decide_as(&mut doc, &id, 6, NOW + 3, &vote(&p, "yes"))),
        DecisionError::WrongPhase(Phase::Closed)
    );
    // So is a second closing.
    assert_eq!(
        refusal(decide_as(
            &mut doc,
            &id,
            1,
            NOW + 3,
            &close(&p, Stage::Vote)
        )),
        DecisionError::WrongPhase(Phase::Closed)
    );
}

#[test]
fn yes_needs_strictly_more_than_the_majority_of_expressed_votes() {
    let outcome = |yes: u8, no: u8, blank: u8, majority: Option<u8>, quorum: Option<u32>| {
        let (id, mut doc) = room("anyone");
        let p = propose(
            &mut doc,
            &id,
            1,
            NewProposal {
                majority,
                quorum,
                ..simple("Majorité")
            },
        );
        let mut n = 10;
        for (count, choice) in [(yes, "yes"), (no, "no"), (blank, "blank")] {
            for _ in 0..count {
                decide_as(&mut doc, &id, n, NOW + 1, &vote(&p, choice)).unwrap();
                n += 1;
            }
        }
        decide_as(&mut doc, &id, 1, NOW + 2, &close(&p, Stage::Vote)).unwrap();
        tally(&doc, &p).outcome
    };
    assert_eq!(
        outcome(2, 2, 0, None, None),
        Outcome::Rejected,
        "a tie is not more than half"
    );
    assert_eq!(
        outcome(3, 2, 5, None, None),
        Outcome::Adopted,
        "blank votes are not expressed"
    );
    assert_eq!(
        outcome(3, 1, 0, Some(75), None),
        Outcome::Rejected,
        "75 % is not more than 75 %"
    );
    assert_eq!(outcome(4, 1, 0, Some(75), None), Outcome::Adopted);
    assert_eq!(
        outcome(0, 0, 3, None, None),
        Outcome::Rejected,
        "no expressed vote"
    );
    assert_eq!(outcome(2, 0, 0, None, Some(3)), Outcome::QuorumNotReached);
    assert_eq!(
        outcome(2, 0, 1, None, Some(3)),
        Outcome::Adopted,
        "blank counts for the quorum"
    );
}

#[test]
fn choices_are_offered_and_one_needs_the_majority() {
    let (id, mut doc) = room("anyone");
    let p = propose(
        &mut doc,
        &id,
        1,
        NewProposal {
            choices: vec!["samedi".into(), "dimanche".into(), "lundi".into()],
            ..simple("Quel jour ?")
        },
    );
    assert_eq!(
        refusal(decide_as(&mut doc, &id, 2, NOW + 1, &vote(&p, "yes"))),
        DecisionError::NotAChoice("yes".into())
    );
    for (n, choice) in [
        (2, "dimanche"),
        (3, "dimanche"),
        (4, "samedi"),
        (5, "blank"),
    ] {
        decide_as(&mut doc, &id, n, NOW + 1, &vote(&p, choice)).unwrap();
    }
    decide_as(&mut doc, &id, 1, NOW + 2, &close(&p, Stage::Vote)).unwrap();
    assert_eq!(tally(&doc, &p).outcome, Outcome::Chosen("dimanche".into()));

    let q = propose(
        &mut doc,
        &id,
        2,
        NewProposal {
            choices: vec!["a".into(), "b".into(), "c".into()],
            ..simple("Sans majorité")
        },
    );
    for (n, choice) in [(3, "a"), (4, "b"), (5, "c")] {
        decide_as(&mut doc, &id, n, NOW + 1, &vote(&q, choice)).unwrap();
    }
    decide_as(&mut doc, &id, 1, NOW + 2, &close(&q, Stage::Vote)).unwrap();
    assert_eq!(tally(&doc, &q).outcome, Outcome::NoMajority);
    // Bad choices are refused when the proposal is made.
    for choices in [
        vec!["seul"],
        vec!["a", "a"],
        vec!["a", "blank"],
        vec!["a", " b"],
    ] {
        let made = try_propose(
            &doc,
            3,
            NewProposal {
                choices: choices.iter().map(|c| c.to_string()).collect(),
                ..simple("Mauvais choix")
            },
        );
        assert!(made.is_err(), "{choices:?}");
    }
}

#[test]
fn a_second_vote_is_refused_unless_votes_may_change() {
    let (id, mut doc) = room("anyone");
    let fixed = propose(&mut doc, &id, 1, simple("Fixe"));
    decide_as(&mut doc, &id, 2, NOW + 1, &vote(&fixed, "yes")).unwrap();
    assert_eq!(
        refusal(decide_as(&mut doc, &id, 2, NOW + 2, &vote(&fixed, "no"))),
        DecisionError::SecondVote
    );
    let free = propose(
        &mut doc,
        &id,
        2,
        NewProposal {
            votes_can_change: true,
            ..simple("Libre")
        },
    );
    decide_as(&mut doc, &id, 3, NOW + 1, &vote(&free, "yes")).unwrap();
    decide_as(&mut doc, &id, 3, NOW + 2, &vote(&free, "no")).unwrap();
    decide_as(&mut doc, &id, 1, NOW + 3, &close(&free, Stage::Vote)).unwrap();
    let counted = tally(&doc, &free).counted;
    assert_eq!(counted.len(), 1);
    assert_eq!(counted[0].choice, "no");
}

#[test]
fn only_those_who_take_part_vote() {
    // The default: confirmed members and admins.
    let (id, mut doc) = new_entity(Kind::Room, 1, &[]);
    let p = propose(&mut doc, &id, 1, simple("Membres"));
    assert_eq!(
        refusal(decide_as(&mut doc, &id, 2, NOW + 1, &vote(&p, "yes"))),
        DecisionError::NotEligible("confirmed-members")
    );
    edit_as(&mut doc, &id, 2, &[link(Relation::Member)]).unwrap();
    assert_eq!(
        refusal(decide_as(&mut doc, &id, 2, NOW + 1, &vote(&p, "yes"))),
        DecisionError::NotEligible("confirmed-members"),
        "asking to be a member is not enough"
    );
    edit_as(&mut doc, &id, 1, &[Edit::ConfirmMember(author(2))]).unwrap();
    decide_as(&mut doc, &id, 2, NOW + 1, &vote(&p, "yes")).unwrap();
    // Nor may a non-member propose.
    let made = try_propose(&doc, 3, simple("Intrus"));
    assert!(matches!(
        made,
        Err(EditError::NotAllowed(Reject::Decision {
            error: DecisionError::NotEligible(_),
            ..
        }))
    ));

    // Members: their link is enough.
    let (id, mut doc) = room("members");
    let p = propose(&mut doc, &id, 1, simple("Membres"));
    assert!(decide_as(&mut doc, &id, 3, NOW + 1, &vote(&p, "yes")).is_err());
    edit_as(&mut doc, &id, 3, &[link(Relation::Member)]).unwrap();
    decide_as(&mut doc, &id, 3, NOW + 1, &vote(&p, "yes")).unwrap();

    // Citizens: the tally leaves out whoever the caller says is not one.
    let (id, mut doc) = room("citizens");
    let p = propose(&mut doc, &id, 1, simple("Citoyens"));
    for n in [2, 3] {
        decide_as(&mut doc, &id, n, NOW + 1, &vote(&p, "no")).unwrap();
    }
    decide_as(&mut doc, &id, 1, NOW + 2, &close(&p, Stage::Vote)).unwrap();
    let citizen_2 = |key: &AuthorKey| *key == author(2);
    let result = decide::tally(&doc, &p, &citizen_2).unwrap();
    assert_eq!(result.counted.len(), 1);
    assert_eq!(result.left_out, [(author(3), LeftOut::NotEligible)]);
}

#[test]
fn a_member_removed_before_the_closing_is_not_counted() {
    let (id, mut doc) = new_entity(Kind::Room, 1, &[]);
    edit_as(&mut doc, &id, 2, &[link(Relation::Member)]).unwrap();
    edit_as(&mut doc, &id, 1, &[Edit::ConfirmMember(author(2))]).unwrap();
    let p = propose(&mut doc, &id, 1, simple("Retrait"));
    decide_as(&mut doc, &id, 2, NOW + 1, &vote(&p, "yes")).unwrap();
    edit_as(&mut doc, &id, 1, &[Edit::RemoveMember(author(2))]).unwrap();
    decide_as(&mut doc, &id, 1, NOW + 2, &close(&p, Stage::Vote)).unwrap();
    let result = tally(&doc, &p);
    assert!(result.counted.is_empty());
    assert_eq!(result.left_out, [(author(2), LeftOut::NotEligible)]);
}

#[test]
fn a_closing_before_the_declared_end_is_an_admins_only() {
    let (id, mut doc) = room("anyone");
    let end = NOW + 3_600_000;
    let p = propose(
        &mut doc,
        &id,
        2,
        NewProposal {
            vote_until: Some(end),
            ..simple("Échéance")
        },
    );
    decide_as(&mut doc, &id, 3, NOW + 1, &vote(&p, "yes")).unwrap();
    // A voter whose clock says the end has not come: refused.
    assert!(matches!(
        refusal(decide_as(
            &mut doc,
            &id,
            3,
            end - 1_000,
            &close(&p, Stage::Vote)
        )),
        DecisionError::EarlyClosing(_)
    ));
    // Nobody closes in another's name.
    let forged = raw_change(&doc, &actor(3), |tx| {
        let proposals = tx.get(ROOT, "proposals")?.unwrap().1;
        let obj = tx.get(&proposals, p.as_str())?.unwrap().1;
        let closings = tx.get(&obj, "closings")?.unwrap().1;
        let vote = tx.get(&closings, "vote")?.unwrap().1;
        tx.put(&vote, author(1).to_string(), ScalarValue::Timestamp(NOW))
    });
    assert!(matches!(
        ingest(&mut doc, &id, &author(3), forged),
        Err(Reject::ForeignSlot { .. })
    ));
    // Nor does an admin vote in another's name.
    let forged = raw_change(&doc, &actor(1), |tx| {
        let proposals = tx.get(ROOT, "proposals")?.unwrap().1;
        let obj = tx.get(&proposals, p.as_str())?.unwrap().1;
        let votes = tx.get(&obj, "votes")?.unwrap().1;
        tx.put(&votes, author(4).to_string(), "yes")
    });
    assert!(matches!(
        ingest(&mut doc, &id, &author(1), forged),
        Err(Reject::ForeignSlot { .. })
    ));
    // Once the end has passed by the closer's own clock: accepted.
    decide_as(&mut doc, &id, 3, end + 1_000, &close(&p, Stage::Vote)).unwrap();
    assert_eq!(tally(&doc, &p).outcome, Outcome::Adopted);
    // A declared end before the proposal is refused.
    let past = try_propose(
        &doc,
        3,
        NewProposal {
            vote_until: Some(NOW - 1),
            ..simple("Déjà fini")
        },
    );
    assert!(
        matches!(&past, Err(EditError::NotAllowed(Reject::Invalid { .. }))),
        "{past:?}"
    );
    // Without a declared end, only an admin closes.
    let q = propose(&mut doc, &id, 3, simple("Sans échéance"));
    assert!(matches!(
        refusal(decide_as(
            &mut doc,
            &id,
            3,
            NOW + 9_999_999,
            &close(&q, Stage::Vote)
        )),
        DecisionError::EarlyClosing(_)
    ));
    decide_as(&mut doc, &id, 1, NOW + 1, &close(&q, Stage::Vote)).unwrap();
}

#[test]
fn amendments_are_voted_then_folded_before_the_vote() {
    let (id, mut doc) = room("anyone");
    let p = propose(
        &mut doc,
        &id,
        2,
        NewProposal {
            amend_until: Some(NOW + 1_000),
            vote_until: Some(NOW + 2_000),
            ..simple("Avec amendements")
        },
    );
    assert_eq!(decide::proposal(&doc, &p).unwrap().phase, Phase::Amending);
    assert_eq!(
        refusal(decide_as(&mut doc, &id, 3, NOW + 1, &vote(&p, "yes"))),
        DecisionError::WrongPhase(Phase::Amending)
    );
    let amend = |nonce: u8, text: &str| Decision::Amend {
        proposal: p.clone(),
        nonce: [nonce; 8],
        text: text.into(),
    };
    let a = decide_as(&mut doc, &id, 3, NOW + 1, &amend(1, "Et le samedi aussi."))
        .unwrap()
        .unwrap();
    let b = decide_as(&mut doc, &id, 4, NOW + 1, &amend(2, "Seulement l'été."))
        .unwrap()
        .unwrap();
    let vote_on = |amendment: &str, choice: &str| Decision::VoteAmendment {
        proposal: p.clone(),
        amendment: amendment.into(),
        choice: choice.into(),
    };
    for (n, a_choice, b_choice) in [(5, "yes", "no"), (6, "yes", "no"), (7, "no", "yes")] {
        decide_as(&mut doc, &id, n, NOW + 1, &vote_on(&a, a_choice)).unwrap();
        decide_as(&mut doc, &id, n, NOW + 1, &vote_on(&b, b_choice)).unwrap();
    }
    assert_eq!(
        refusal(decide_as(&mut doc, &id, 5, NOW + 1, &vote_on(&a, "maybe"))),
        DecisionError::NotAChoice("maybe".into())
    );
    // The proposer cannot open the vote before amendments are closed.
    let open_vote = Decision::OpenVote {
        proposal: p.clone(),
    };
    assert_eq!(
        refusal(decide_as(&mut doc, &id, 2, NOW + 1, &open_vote)),
        DecisionError::WrongPhase(Phase::Amending)
    );
    // The end declared has passed by this voter's clock.
    decide_as(&mut doc, &id, 5, NOW + 1_500, &close(&p, Stage::Amendments)).unwrap();
    let result = tally(&doc, &p);
    let adopted: Vec<(&str, Option<bool>)> = result
        .amendments
        .iter()
        .map(|amendment| (amendment.id.as_str(), amendment.adopted))
        .collect();
    assert!(adopted.contains(&(a.as_str(), Some(true))));
    assert!(adopted.contains(&(b.as_str(), Some(false))));
    assert_eq!(decide::proposal(&doc, &p).unwrap().phase, Phase::Folding);
    // No more amendments; the proposer folds the adopted one in.
    assert_eq!(
        refusal(decide_as(
            &mut doc,
            &id,
            3,
            NOW + 1_600,
            &amend(3, "Trop tard")
        )),
        DecisionError::WrongPhase(Phase::Folding)
    );
    let reword = Decision::Reword {
        proposal: p.clone(),
        title: None,
        text: Some("Ouvrir le jardin le samedi et le dimanche.".into()),
    };
    assert_eq!(
        refusal(decide_as(&mut doc, &id, 3, NOW + 1_600, &reword)),
        DecisionError::NotProposer
    );
    decide_as(&mut doc, &id, 2, NOW + 1_600, &reword).unwrap();
    decide_as(&mut doc, &id, 2, NOW + 1_700, &open_vote).unwrap();
    let late = Decision::Reword {
        proposal: p.clone(),
        title: Some("Autre titre".into()),
        text: None,
    };
    assert_eq!(
        refusal(decide_as(&mut doc, &id, 2, NOW + 1_800, &late)),
        DecisionError::WrongPhase(Phase::Voting),
        "the text is fixed once the vote is open"
    );
    decide_as(&mut doc, &id, 3, NOW + 1_800, &vote(&p, "yes")).unwrap();
    decide_as(&mut doc, &id, 3, NOW + 2_000, &close(&p, Stage::Vote)).unwrap();
    let result = tally(&doc, &p);
    assert_eq!(result.outcome, Outcome::Adopted);
    assert_eq!(
        result.proposal.text,
        "Ouvrir le jardin le samedi et le dimanche."
    );
}

#[test]
fn concurrent_closings_resolve_alike_and_count_only_their_past() {
    let (id, mut doc) = room("anyone");
    edit_as(&mut doc, &id, 1, &[Edit::AddAdmin(author(2))]).unwrap();
    let p = propose(&mut doc, &id, 1, simple("Partition"));
    decide_as(&mut doc, &id, 3, NOW + 1, &vote(&p, "yes")).unwrap();
    // Two sides of a partition, each with a vote and a closing.
    let mut left = doc.fork();
    let mut right = doc.fork();
    decide_as(&mut left, &id, 4, NOW + 2, &vote(&p, "no")).unwrap();
    decide_as(&mut left, &id, 1, NOW + 3, &close(&p, Stage::Vote)).unwrap();
    decide_as(&mut right, &id, 5, NOW + 2, &vote(&p, "no")).unwrap();
    decide_as(&mut right, &id, 6, NOW + 2, &vote(&p, "no")).unwrap();
    decide_as(&mut right, &id, 2, NOW + 3, &close(&p, Stage::Vote)).unwrap();
    let left_alone = tally(&left, &p);
    let right_alone = tally(&right, &p);
    // Healed, both ways.
    let mut healed_left = left.fork();
    for change in right.get_changes(&left.get_heads()) {
        ingest(&mut healed_left, &id, &author_of(&change), change.clone()).unwrap();
    }
    let mut healed_right = right.fork();
    for change in left.get_changes(&right.get_heads()) {
        ingest(&mut healed_right, &id, &author_of(&change), change.clone()).unwrap();
    }
    let a = tally(&healed_left, &p);
    let b = tally(&healed_right, &p);
    assert_eq!(a, b);
    assert_eq!(a.closing.as_ref().unwrap().closings, 2);
    // The closing is the lower hash of the two, and its side's votes count.
    let winner = [&left_alone, &right_alone]
        .into_iter()
        .min_by_key(|side| side.closing.as_ref().unwrap().change.clone())
        .unwrap();
    assert_eq!(
        a.closing.as_ref().unwrap().change,
        winner.closing.as_ref().unwrap().change
    );
    assert_eq!(a.counted, winner.counted);
    assert_eq!(a.outcome, winner.outcome);
    // The other side's votes are said, not counted.
    let loser_votes = if std::ptr::eq(winner, &left_alone) {
        2
    } else {
        1
    };
    assert_eq!(a.left_out.len(), loser_votes);
    assert!(
        a.left_out
            .iter()
            .all(|(_, why)| *why == LeftOut::AfterClosing)
    );
}

#[test]
fn proposals_live_in_rooms_only() {
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[]);
    let made = try_propose(&doc, 1, simple("Ailleurs"));
    assert!(made.is_err());
    // Nor can a change make them there.
    let forged = raw_change(&doc, &actor(1), |tx| {
        tx.put_object(ROOT, "proposals", ObjType::Map).map(|_| ())
    });
    assert!(ingest(&mut doc, &id, &author(1), forged).is_err());
    // A room starts with its proposals, and nobody replaces them.
    let (id, mut doc) = room("anyone");
    assert!(doc.get(ROOT, "proposals").unwrap().is_some());
    let forged = raw_change(&doc, &actor(1), |tx| {
        tx.put_object(ROOT, "proposals", ObjType::Map).map(|_| ())
    });
    assert!(matches!(
        ingest(&mut doc, &id, &author(1), forged),
        Err(Reject::Immutable { .. })
    ));
    // A proposal cannot be made twice, nor deleted.
    let p = propose(&mut doc, &id, 2, simple("Une fois"));
    let again = try_propose(&doc, 2, simple("Deux fois"));
    assert!(again.is_err());
    let deleted = raw_change(&doc, &actor(1), |tx| {
        let proposals = tx.get(ROOT, "proposals")?.unwrap().1;
        tx.delete(&proposals, p.as_str())
    });
    assert!(matches!(
        ingest(&mut doc, &id, &author(1), deleted),
        Err(Reject::Decision {
            error: DecisionError::Deleted,
            ..
        })
    ));
}

fn author_of(change: &automerge::Change) -> AuthorKey {
    crdt_model::ids::Actor::from_actor_id(change.actor_id())
        .unwrap()
        .author
}

/// The postal code's moderation room, made by author 1, where authors 2
/// and 3 are confirmed members.
fn moderation_room() -> (EntityId, Automerge) {
    let (id, mut doc) = new_entity(
        Kind::Room,
        1,
        &[Edit::Set(Field::Moderation, Value::Bool(true))],
    );
    for n in [2, 3] {
        edit_as(&mut doc, &id, n, &[link(Relation::Member)]).unwrap();
        edit_as(&mut doc, &id, 1, &[Edit::ConfirmMember(author(n))]).unwrap();
    }
    (id, doc)
}

fn hide(item: EntityId) -> NewProposal {
    moderation::new_proposal(moderation::Asks::Hide, item, "Garage", &[], NOW)
}

#[test]
fn moderation_proposals_have_a_fixed_shape_in_a_moderation_room() {
    let item = EntityId::from_bytes([7; 16]);
    // Outside a moderation room.
    let (_, plain) = room("anyone");
    assert_eq!(
        refusal(try_propose(&plain, 1, hide(item)).map(|(_, made)| made)),
        DecisionError::NotAModerationRoom
    );
    let (id, mut doc) = moderation_room();
    // Another majority, another length, choices: each refused.
    for shape in [
        NewProposal {
            majority: Some(50),
            ..hide(item)
        },
        NewProposal {
            vote_until: Some(NOW + 3_600_000),
            ..hide(item)
        },
        NewProposal {
            choices: vec!["a".into(), "b".into()],
            ..hide(item)
        },
        NewProposal {
            restores: Some(item),
            ..hide(item)
        },
    ] {
        assert!(matches!(
            refusal(try_propose(&doc, 1, shape).map(|(_, made)| made)),
            DecisionError::ModerationShape(_)
        ));
    }
    // A reporter who takes no part in the room opens one; they do not vote
    // on it, the members do.
    let p = propose(&mut doc, &id, 9, hide(item));
    assert_eq!(
        refusal(decide_as(&mut doc, &id, 9, NOW + 1, &vote(&p, "yes"))),
        DecisionError::NotEligible("confirmed-members")
    );
    decide_as(&mut doc, &id, 2, NOW + 1, &vote(&p, "yes")).unwrap();
    // Restoring is for those who take part.
    let restore = moderation::new_proposal(moderation::Asks::Restore, item, "Garage", &[], NOW);
    assert_eq!(
        refusal(try_propose(&doc, 8, restore.clone()).map(|(_, made)| made)),
        DecisionError::NotEligible("confirmed-members")
    );
    propose(&mut doc, &id, 2, restore);
    // The fields are fixed once made.
    let proposal = decide::proposal(&doc, &p).unwrap();
    assert_eq!(proposal.moderates, Some(item));
    assert_eq!(proposal.majority, moderation::MAJORITY);
    assert_eq!(proposal.vote_until, Some(NOW + moderation::VOTE_MS));
}

/// Opens a moderation proposal `asks` about `item` as author `who.0`
/// (nonce `who.1`), at `now`, declared at `at`; its id.
fn open_moderation(
    doc: &mut Automerge,
    id: &EntityId,
    who: (u8, u8),
    asks: moderation::Asks,
    item: EntityId,
    now: i64,
    at: i64,
) -> String {
    let proposal = moderation::new_proposal(asks, item, "Garage", &[], at);
    let decision = Decision::Propose {
        nonce: [who.1; 8],
        proposal,
    };
    decide_as(doc, id, who.0, now, &decision)
        .expect("the proposal is accepted")
        .expect("it has an id")
}

fn report(n: u8, at: i64) -> crdt_model::document::Report {
    crdt_model::document::Report {
        author: author(n),
        at,
        reason: format!("report {n}"),
    }
}

#[test]
fn moderation_hides_restores_and_clears_reports_in_the_order_of_the_proposals() {
    let item = EntityId::from_bytes([7; 16]);
    let (id, mut doc) = moderation_room();
    let reports: Vec<_> = (4..7).map(|n| report(n, NOW - 10)).collect();
    let state = |doc: &Automerge, reports: &[crdt_model::document::Report]| {
        let tallies: Vec<Tally> = decide::proposals(doc)
            .iter()
            .map(|p| tally(doc, &p.id))
            .collect();
        moderation::state(doc, item, reports, &tallies, NOW)
    };
    // Three reports flag it; no proposal yet.
    let flagged = state(&doc, &reports);
    assert!(flagged.flagged && !flagged.hidden && flagged.open.is_none());
    assert_eq!(flagged.counted.len(), 3);

    // A first proposal, and a duplicate made while it is open.
    let first = propose(&mut doc, &id, 4, hide(item));
    let duplicate = open_moderation(
        &mut doc,
        &id,
        (5, 5),
        moderation::Asks::Hide,
        item,
        NOW + 5,
        NOW + 5,
    );
    assert_eq!(state(&doc, &reports).open.as_deref(), Some(first.as_str()));
    // Refused (one yes, one no: 50 %, not more than 75 %): kept, reports
    // before the closing cleared; the second one refused too.
    decide_as(&mut doc, &id, 2, NOW + 1, &vote(&first, "yes")).unwrap();
    decide_as(&mut doc, &id, 3, NOW + 1, &vote(&first, "no")).unwrap();
    decide_as(&mut doc, &id, 1, NOW + 20, &close(&first, Stage::Vote)).unwrap();
    for n in [2, 3] {
        decide_as(&mut doc, &id, n, NOW + 21, &vote(&duplicate, "no")).unwrap();
    }
    decide_as(&mut doc, &id, 1, NOW + 22, &close(&duplicate, Stage::Vote)).unwrap();
    let kept = state(&doc, &reports);
    assert!(!kept.hidden && !kept.flagged);
    assert_eq!((kept.counted.len(), kept.cleared.len()), (0, 3));
    assert_eq!(
        kept.steps
            .iter()
            .map(|step| step.effect)
            .collect::<Vec<_>>(),
        [moderation::Effect::Kept, moderation::Effect::Kept]
    );

    // Three new reports, a new proposal adopted by all: hidden.
    let reports: Vec<_> = (4..7).map(|n| report(n, NOW + 30)).collect();
    assert!(state(&doc, &reports).flagged);
    let again = open_moderation(
        &mut doc,
        &id,
        (6, 6),
        moderation::Asks::Hide,
        item,
        NOW + 31,
        NOW + 31,
    );
    for n in [1, 2, 3] {
        decide_as(&mut doc, &id, n, NOW + 32, &vote(&again, "yes")).unwrap();
    }
    decide_as(&mut doc, &id, 1, NOW + 40, &close(&again, Stage::Vote)).unwrap();
    let hidden = state(&doc, &reports);
    assert!(hidden.hidden && !hidden.flagged);
    let all: Vec<Tally> = decide::proposals(&doc)
        .iter()
        .map(|p| tally(&doc, &p.id))
        .collect();
    assert_eq!(moderation::hidden(&doc, &all), [item]);

    // A restoring made without seeing the hiding's closing (on a copy from
    // before it) restores nothing, adopted or not; nor does a backdated
    // proposal to hide, made by someone taking no part.
    let closing: automerge::ChangeHash =
        tally(&doc, &again).closing.unwrap().change.parse().unwrap();
    let before_closing = doc.get_change_by_hash(&closing).unwrap().deps().to_vec();
    let mut blind = doc.fork_at(&before_closing).unwrap();
    let blind_restore = open_moderation(
        &mut blind,
        &id,
        (3, 33),
        moderation::Asks::Restore,
        item,
        NOW + 45,
        NOW + 45,
    );
    // (Authors 2 and 3 only: author 1 wrote on after the copy, and one
    // actor never writes on two copies.)
    for n in [2, 3] {
        decide_as(&mut blind, &id, n, NOW + 46, &vote(&blind_restore, "yes")).unwrap();
    }
    let after_the_end = NOW + 45 + moderation::VOTE_MS + 1_000;
    decide_as(
        &mut blind,
        &id,
        2,
        after_the_end,
        &close(&blind_restore, Stage::Vote),
    )
    .unwrap();
    doc.merge(&mut blind).unwrap();
    let backdated = open_moderation(
        &mut doc,
        &id,
        (9, 99),
        moderation::Asks::Hide,
        item,
        NOW - 1_000_000,
        NOW - 1_000_000,
    );
    let still = state(&doc, &reports);
    assert!(still.hidden, "{still:?}");
    let effect_of = |state: &moderation::State, id: &str| {
        state
            .steps
            .iter()
            .find(|step| step.proposal == id)
            .map(|step| step.effect)
    };
    assert_eq!(
        effect_of(&still, &blind_restore),
        Some(moderation::Effect::Moot)
    );
    assert_eq!(
        effect_of(&still, &backdated),
        Some(moderation::Effect::Open)
    );

    // Restored by a later adopted decision: shown, its reports cleared.
    let restore = open_moderation(
        &mut doc,
        &id,
        (2, 2),
        moderation::Asks::Restore,
        item,
        NOW + 50,
        NOW + 50,
    );
    for n in [1, 2, 3] {
        decide_as(&mut doc, &id, n, NOW + 51, &vote(&restore, "yes")).unwrap();
    }
    decide_as(&mut doc, &id, 1, NOW + 60, &close(&restore, Stage::Vote)).unwrap();
    let restored = state(&doc, &reports);
    assert!(!restored.hidden && !restored.flagged, "{restored:?}");
    assert_eq!(restored.cleared.len(), 3);
    assert_eq!(
        restored.steps.last().map(|step| step.effect),
        Some(moderation::Effect::Restored)
    );
}

fn add_action(proposal: &str, title: &str) -> Decision {
    Decision::AddAction {
        proposal: proposal.into(),
        nonce: [3; 8],
        action: decide::NewAction {
            title: title.into(),
            start: Some(NOW + 86_400_000),
            end: Some(NOW + 2 * 86_400_000),
        },
    }
}

#[test]
fn actions_follow_an_adopted_proposal_and_volunteers_write_their_own_slot() {
    // Authors 1 (admin) and 2 (confirmed) take part; 3 does not.
    let (id, mut doc) = new_entity(Kind::Room, 1, &[]);
    edit_as(&mut doc, &id, 2, &[link(Relation::Member)]).unwrap();
    edit_as(&mut doc, &id, 1, &[Edit::ConfirmMember(author(2))]).unwrap();
    let p = propose(&mut doc, &id, 2, simple("Jardin le dimanche"));
    // Not before the vote is closed.
    assert_eq!(
        refusal(decide_as(
            &mut doc,
            &id,
            2,
            NOW + 1,
            &add_action(&p, "Clés")
        )),
        DecisionError::WrongPhase(Phase::Voting)
    );
    decide_as(&mut doc, &id, 2, NOW + 1, &vote(&p, "yes")).unwrap();
    decide_as(&mut doc, &id, 1, NOW + 2, &close(&p, Stage::Vote)).unwrap();
    // The proposer adds one; someone else (no admin) may not.
    let action = decide_as(&mut doc, &id, 2, NOW + 3, &add_action(&p, "Faire les clés"))
        .unwrap()
        .unwrap();
    assert!(action.starts_with(&author(2).to_string()));
    assert_eq!(
        refusal(decide_as(
            &mut doc,
            &id,
            3,
            NOW + 3,
            &add_action(&p, "Intrus")
        )),
        DecisionError::NotProposer
    );
    // Volunteers, each in their own slot; one withdraws.
    let volunteer = |yes: bool| Decision::Volunteer {
        proposal: p.clone(),
        action: action.clone(),
        volunteer: yes,
    };
    decide_as(&mut doc, &id, 1, NOW + 4, &volunteer(true)).unwrap();
    decide_as(&mut doc, &id, 2, NOW + 4, &volunteer(true)).unwrap();
    decide_as(&mut doc, &id, 1, NOW + 5, &volunteer(false)).unwrap();
    assert_eq!(
        refusal(decide_as(&mut doc, &id, 3, NOW + 5, &volunteer(true))),
        DecisionError::NotEligible("confirmed-members")
    );
    // Its status: its author's or an admin's.
    let status = |status| Decision::SetActionStatus {
        proposal: p.clone(),
        action: action.clone(),
        status,
    };
    assert_eq!(
        refusal(decide_as(
            &mut doc,
            &id,
            3,
            NOW + 6,
            &status(decide::ActionStatus::Done)
        )),
        DecisionError::NotActionAuthor
    );
    decide_as(
        &mut doc,
        &id,
        2,
        NOW + 6,
        &status(decide::ActionStatus::Done),
    )
    .unwrap();
    let read = &decide::proposal(&doc, &p).unwrap().actions[0];
    assert_eq!(read.title, "Faire les clés");
    assert_eq!(read.status, decide::ActionStatus::Done);
    assert_eq!(read.volunteers, [author(2)]);
    assert_eq!(read.end, Some(NOW + 2 * 86_400_000));

    // A rejected proposal has no actions.
    let q = decide_as(
        &mut doc,
        &id,
        1,
        NOW + 7,
        &Decision::Propose {
            nonce: [9; 8],
            proposal: simple("Fermer le jardin"),
        },
    )
    .unwrap()
    .unwrap();
    decide_as(&mut doc, &id, 2, NOW + 8, &vote(&q, "no")).unwrap();
    decide_as(&mut doc, &id, 1, NOW + 9, &close(&q, Stage::Vote)).unwrap();
    assert_eq!(
        refusal(decide_as(
            &mut doc,
            &id,
            1,
            NOW + 10,
            &add_action(&q, "Cadenas")
        )),
        DecisionError::NotAdopted
    );
}

#[test]
fn a_decision_written_twice_in_one_change_is_refused() {
    // A moderation proposal of the fixed shape whose majority is then
    // written again, at 1 %.
    let (id, doc) = moderation_room();
    let item = EntityId::from_bytes([7; 16]);
    let proposal = hide(item);
    let pid = decide::slot_id(&author(9), &[9; 8]);
    let change = raw_change(&doc, &actor(9), |tx| {
        let (_, proposals) = tx.get(ROOT, "proposals")?.unwrap();
        let obj = tx.put_object(&proposals, pid.as_str(), ObjType::Map)?;
        tx.put(&obj, "title", proposal.title.as_str())?;
        tx.put(&obj, "text", proposal.text.as_str())?;
        tx.put(&obj, "majority", ScalarValue::Uint(75))?;
        tx.put(
            &obj,
            "vote_until",
            ScalarValue::Timestamp(NOW + moderation::VOTE_MS),
        )?;
        tx.put(&obj, "votes_can_change", false)?;
        tx.put(&obj, "names_shown", false)?;
        tx.put(&obj, "moderates", item.to_string())?;
        tx.put(&obj, "at", ScalarValue::Timestamp(NOW))?;
        tx.put(&obj, "vote_open", true)?;
        for name in ["votes", "amendments", "actions"] {
            tx.put_object(&obj, name, ObjType::Map)?;
        }
        let closings = tx.put_object(&obj, "closings", ObjType::Map)?;
        for stage in ["amendments", "vote"] {
            tx.put_object(&closings, stage, ObjType::Map)?;
        }
        tx.put(&obj, "majority", ScalarValue::Uint(1))?;
        Ok(())
    });
    match crdt_model::authz::authorize(&doc, &id, &author(9), &change) {
        Err(Reject::Decision { error, .. }) => assert_eq!(error, DecisionError::WrittenTwice),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
