//! The tally is the same on every replica, whatever order the changes
//! arrive in, and equals a reference computed from the changes' causal
//! order alone: random votes, amendments, membership changes, closings and
//! partial syncs on three sites, then every change delivered to fresh
//! replicas in random orders.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use automerge::{Automerge, Change, ChangeHash, ReadDoc};
use common::*;
use crdt_model::authz::{Reject, authorize};
use crdt_model::decide::{self, Decision, NewProposal, Outcome, Stage};
use crdt_model::document::{self, Edit, Relation};
use crdt_model::ids::{AuthorKey, EntityId};
use crdt_model::schema::Kind;
use proptest::prelude::*;

/// Three sites; author `n` writes on site `n % 3` only (one writer per
/// actor). Admin 1 (site 1) confirms and removes members and opens the
/// vote; admins 1 and 2 (sites 1 and 2) close; voters are 10 to 17.
const SITES: usize = 3;
const VOTERS: std::ops::RangeInclusive<u8> = 10..=17;
const CONFIRMED_AT_FIRST: [u8; 6] = [10, 11, 12, 13, 14, 15];

#[derive(Debug, Clone)]
enum Step {
    Vote {
        voter: u8,
        yes: bool,
    },
    Amend {
        author: u8,
    },
    VoteAmendment {
        voter: u8,
        amendment: usize,
        yes: bool,
    },
    Confirm {
        voter: u8,
        confirm: bool,
    },
    CloseAmendments {
        admin: u8,
    },
    OpenVote,
    CloseVote {
        admin: u8,
    },
    SyncAll,
    Sync {
        from: usize,
        to: usize,
    },
}

/// Steps of the amendment phase.
fn amending_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => VOTERS.prop_map(|author| Step::Amend { author }),
        3 => (VOTERS, 0..3usize, any::<bool>())
            .prop_map(|(voter, amendment, yes)| Step::VoteAmendment { voter, amendment, yes }),
        1 => (VOTERS, prop::bool::weighted(0.6))
            .prop_map(|(voter, confirm)| Step::Confirm { voter, confirm }),
        1 => (1..=2u8).prop_map(|admin| Step::CloseAmendments { admin }),
        2 => (0..SITES, 0..SITES).prop_map(|(from, to)| Step::Sync { from, to }),
    ]
}

/// Steps of the vote.
fn voting_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (VOTERS, any::<bool>()).prop_map(|(voter, yes)| Step::Vote { voter, yes }),
        1 => (VOTERS, prop::bool::weighted(0.6))
            .prop_map(|(voter, confirm)| Step::Confirm { voter, confirm }),
        1 => (1..=2u8).prop_map(|admin| Step::CloseVote { admin }),
        3 => (0..SITES, 0..SITES).prop_map(|(from, to)| Step::Sync { from, to }),
    ]
}

/// What a logged change did, for the reference.
#[derive(Debug, Clone)]
enum Did {
    Vote {
        voter: AuthorKey,
        yes: bool,
    },
    AmendmentVote {
        voter: AuthorKey,
        amendment: String,
        yes: bool,
    },
    Confirm {
        voter: AuthorKey,
        confirm: bool,
    },
    Close(Stage),
    Other,
}

struct Log {
    order: Vec<ChangeHash>,
    changes: HashMap<ChangeHash, Change>,
    did: HashMap<ChangeHash, Did>,
}

impl Log {
    fn past(&self, of: ChangeHash) -> HashSet<ChangeHash> {
        let mut seen = HashSet::new();
        let mut todo = vec![of];
        while let Some(hash) = todo.pop() {
            if seen.insert(hash) {
                todo.extend(self.changes[&hash].deps().iter().copied());
            }
        }
        seen
    }

    /// The changes of `past` in log order (each author's in their order).
    fn in_order<'a>(&'a self, past: &'a HashSet<ChangeHash>) -> impl Iterator<Item = &'a Did> {
        self.order
            .iter()
            .filter(move |hash| past.contains(hash))
            .map(|hash| &self.did[hash])
    }

    /// The closing of `stage`: the lowest hash among its closings.
    fn closing(&self, stage: Stage) -> Option<ChangeHash> {
        self.order
            .iter()
            .filter(|hash| matches!(self.did[*hash], Did::Close(s) if s == stage))
            .min()
            .copied()
    }
}

/// Who took part (admins always) and the latest vote of each, as of `past`.
fn reference_votes(
    log: &Log,
    past: &HashSet<ChangeHash>,
    amendment: Option<&str>,
) -> BTreeMap<AuthorKey, bool> {
    // Confirmed by the setup.
    let mut confirmed: HashSet<AuthorKey> = CONFIRMED_AT_FIRST.map(author).into_iter().collect();
    let mut votes: BTreeMap<AuthorKey, bool> = BTreeMap::new();
    for did in log.in_order(past) {
        match (did, amendment) {
            (Did::Confirm { voter, confirm }, _) => {
                if *confirm {
                    confirmed.insert(*voter);
                } else {
                    confirmed.remove(voter);
                }
            }
            (Did::Vote { voter, yes }, None) => {
                votes.insert(*voter, *yes);
            }
            (
                Did::AmendmentVote {
                    voter,
                    amendment: a,
                    yes,
                },
                Some(wanted),
            ) if a == wanted => {
                votes.insert(*voter, *yes);
            }
            _ => {}
        }
    }
    let admins = [author(1), author(2)];
    votes.retain(|voter, _| confirmed.contains(voter) || admins.contains(voter));
    votes
}

fn deliver(doc: &mut Automerge, pending: &mut Vec<Change>, id: &EntityId, change: Change) {
    let mut queue = VecDeque::from([change]);
    while let Some(change) = queue.pop_front() {
        if doc.get_change_by_hash(&change.hash()).is_some() {
            continue;
        }
        let signer = crdt_model::ids::Actor::from_actor_id(change.actor_id())
            .unwrap()
            .author;
        match authorize(doc, id, &signer, &change) {
            Ok(()) => {
                doc.apply_changes([change]).unwrap();
                queue.extend(std::mem::take(pending));
            }
            Err(Reject::MissingDependencies(_)) => pending.push(change),
            Err(other) => panic!("an accepted change is refused on delivery: {other}"),
        }
    }
}

fn nobody(_: &AuthorKey) -> bool {
    false
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn every_replica_tallies_alike_and_as_the_causal_order_says(
        amending in prop::collection::vec(amending_step(), 0..25),
        voting in prop::collection::vec(voting_step(), 0..40),
        last_closing in any::<bool>(),
        votes_can_change in any::<bool>(),
        orders in prop::collection::vec(any::<u64>(), 3),
    ) {
        // The room, admin 2, and the proposal, on every site.
        let (id, mut setup) = new_entity(Kind::Room, 1, &[]);
        edit_as(&mut setup, &id, 1, &[Edit::AddAdmin(author(2))]).unwrap();
        for voter in VOTERS {
            edit_as(&mut setup, &id, voter, &[link(Relation::Member)]).unwrap();
        }
        // Most start confirmed.
        for voter in CONFIRMED_AT_FIRST {
            edit_as(&mut setup, &id, 1, &[Edit::ConfirmMember(author(voter))]).unwrap();
        }
        let (change, made) = decide::decide(&setup, &actor(1), NOW, &Decision::Propose {
            nonce: [1; 8],
            proposal: NewProposal {
                title: "Au hasard".into(),
                text: "Des votes dans le désordre.".into(),
                amend_until: Some(NOW + 1),
                votes_can_change,
                ..NewProposal::default()
            },
        }).unwrap();
        ingest(&mut setup, &id, &author(1), change).unwrap();
        let p = made.unwrap();
        let mut log = Log { order: Vec::new(), changes: HashMap::new(), did: HashMap::new() };
        for change in setup.get_changes(&[]) {
            log.order.push(change.hash());
            log.did.insert(change.hash(), Did::Other);
            log.changes.insert(change.hash(), change.clone());
        }
        let mut sites: Vec<Automerge> = (0..SITES).map(|_| setup.fork()).collect();
        let mut amendments: Vec<String> = Vec::new();
        let mut time = NOW + 10;
        // The amendment phase, its closing and the vote's opening by admin 1
        // once every site has heard of it, the vote, maybe a last closing.
        let steps: Vec<Step> = amending
            .iter()
            .cloned()
            .chain([Step::CloseAmendments { admin: 1 }, Step::SyncAll, Step::OpenVote, Step::SyncAll])
            .chain(voting.iter().cloned())
            .chain(last_closing.then_some(Step::CloseVote { admin: 1 }))
            .collect();
        let sync = |sites: &mut Vec<Automerge>, from: usize, to: usize| {
            if from != to {
                let missing: Vec<Change> = sites[from].get_changes(&sites[to].get_heads());
                for change in missing {
                    let signer = crdt_model::ids::Actor::from_actor_id(change.actor_id()).unwrap().author;
                    ingest(&mut sites[to], &id, &signer, change).unwrap();
                }
            }
        };
        for step in &steps {
            time += 1;
            let (n, decision, did) = match step {
                Step::Sync { from, to } => {
                    sync(&mut sites, *from, *to);
                    continue;
                }
                Step::SyncAll => {
                    for (from, to) in [(0, 1), (2, 1), (1, 0), (1, 2)] {
                        sync(&mut sites, from, to);
                    }
                    continue;
                }
                Step::Confirm { voter, confirm } => {
                    let edit = if *confirm { Edit::ConfirmMember(author(*voter)) } else { Edit::RemoveMember(author(*voter)) };
                    let site = &mut sites[1];
                    let Ok(change) = document::edit(site, &actor(1), time, &[edit]) else { continue };
                    let hash = change.hash();
                    ingest(site, &id, &author(1), change.clone()).unwrap();
                    log.order.push(hash);
                    log.changes.insert(hash, change);
                    log.did.insert(hash, Did::Confirm { voter: author(*voter), confirm: *confirm });
                    continue;
                }
                Step::Vote { voter, yes } => (*voter, Decision::Vote {
                    proposal: p.clone(),
                    choice: if *yes { "yes" } else { "no" }.into(),
                }, Did::Vote { voter: author(*voter), yes: *yes }),
                Step::Amend { author: n } => (*n, Decision::Amend {
                    proposal: p.clone(),
                    nonce: [amendments.len() as u8 + 1; 8],
                    text: "Un amendement.".into(),
                }, Did::Other),
                Step::VoteAmendment { voter, amendment, yes } => {
                    let Some(aid) = amendments.get(*amendment) else { continue };
                    (*voter, Decision::VoteAmendment {
                        proposal: p.clone(),
                        amendment: aid.clone(),
                        choice: if *yes { "yes" } else { "no" }.into(),
                    }, Did::AmendmentVote { voter: author(*voter), amendment: aid.clone(), yes: *yes })
                }
                Step::CloseAmendments { admin } => (*admin, Decision::Close {
                    proposal: p.clone(),
                    stage: Stage::Amendments,
                }, Did::Close(Stage::Amendments)),
                Step::OpenVote => (1, Decision::OpenVote { proposal: p.clone() }, Did::Other),
                Step::CloseVote { admin } => (*admin, Decision::Close {
                    proposal: p.clone(),
                    stage: Stage::Vote,
                }, Did::Close(Stage::Vote)),
            };
            let site = &mut sites[usize::from(n) % SITES];
            // Refused by the rules where it is made: nothing to log.
            let Ok((change, made)) = decide::decide(site, &actor(n), time, &decision) else { continue };
            let hash = change.hash();
            ingest(site, &id, &author(n), change.clone()).unwrap();
            if let Some(aid) = made {
                amendments.push(aid);
            }
            log.order.push(hash);
            log.changes.insert(hash, change);
            log.did.insert(hash, did);
        }

        // The reference, from the causal order alone.
        let all: HashSet<ChangeHash> = log.changes.keys().copied().collect();
        let vote_closing = log.closing(Stage::Vote);
        let counted = reference_votes(&log, &vote_closing.map_or(all.clone(), |c| log.past(c)), None);
        let expected_outcome = match vote_closing {
            None => Outcome::Open,
            Some(_) => {
                let yes = counted.values().filter(|yes| **yes).count();
                if yes * 100 > 50 * counted.len() { Outcome::Adopted } else { Outcome::Rejected }
            }
        };
        let amendments_closing = log.closing(Stage::Amendments);
        let amendment_past = amendments_closing.map_or(all.clone(), |c| log.past(c));

        // Every change delivered to fresh replicas in random orders.
        let mut tallies = Vec::new();
        for seed in &orders {
            let mut hashes = log.order.clone();
            let mut state = *seed | 1;
            for i in (1..hashes.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                hashes.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let mut doc = Automerge::new();
            let mut pending = Vec::new();
            for hash in hashes {
                deliver(&mut doc, &mut pending, &id, log.changes[&hash].clone());
            }
            prop_assert!(pending.is_empty());
            let tally = decide::tally(&doc, &p, &nobody).unwrap();
            let ballots: BTreeMap<AuthorKey, bool> = tally
                .counted
                .iter()
                .map(|ballot| (ballot.voter, ballot.choice == "yes"))
                .collect();
            prop_assert_eq!(&ballots, &counted);
            prop_assert_eq!(&tally.outcome, &expected_outcome);
            prop_assert_eq!(
                tally.closing.as_ref().map(|c| c.change.clone()),
                vote_closing.map(|c| decide::hash_text(&c))
            );
            for amendment in &tally.amendments {
                let votes = reference_votes(&log, &amendment_past, Some(&amendment.id));
                let yes = votes.values().filter(|yes| **yes).count() as u64;
                prop_assert_eq!((amendment.yes, amendment.no), (yes, votes.len() as u64 - yes));
                prop_assert_eq!(
                    amendment.adopted,
                    amendments_closing.map(|_| yes * 100 > 50 * votes.len() as u64)
                );
            }
            tallies.push(tally);
        }
        prop_assert!(tallies.windows(2).all(|pair| pair[0] == pair[1]));
    }
}
