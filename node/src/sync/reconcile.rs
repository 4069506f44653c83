//! Range-based set reconciliation, pure: from the puller's items and the
//! other side's answers to the documents that differ.

use std::collections::{BTreeSet, HashSet};

use crdt_model::ids::EntityId;
use sha2::Digest;

use super::wire::{Body, Fingerprint, Range};
use super::{BRANCHES, Item, MAX_ROUNDS, SMALL_RANGE, SyncError};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::wire::{WireRange, encode, pack, unpack};

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

    mod model {
        use proptest::prelude::*;

        use super::*;

        /// Two sides' items: ids from a small space, so that the sides share
        /// many, with a state from a few, so that shared ids often differ.
        fn sides() -> impl Strategy<Value = (Vec<Item>, Vec<Item>)> {
            let side = || {
                prop::collection::btree_map(0..400u32, 0..3u8, 0..300)
                    .prop_map(|items| items.into_iter().map(|(n, state)| item(n, state)).collect())
            };
            (side(), side())
        }

        proptest! {
            /// Property test: reconciliation finds exactly the plain set
            /// difference, the ids of the other side's items this side does
            /// not hold as they are, in bytes that grow with it.
            #[test]
            fn reconciliation_finds_the_set_difference((mine, theirs) in sides()) {
                let held: BTreeSet<Item> = mine.iter().copied().collect();
                let expected: BTreeSet<[u8; 16]> = theirs
                    .iter()
                    .filter(|item| !held.contains(item))
                    .map(|item| item.0)
                    .collect();
                let (need, bytes) = reconcile(mine.clone(), &theirs);
                prop_assert_eq!(&need, &expected);
                // Each item on one side only costs at most a few ranges of
                // fingerprints on the way down, and itself, whichever side
                // holds it.
                let theirs: BTreeSet<Item> = theirs.into_iter().collect();
                let apart = held.symmetric_difference(&theirs).count();
                prop_assert!(bytes <= 100 + 700 * apart, "{} bytes, {} items apart", bytes, apart);
            }
        }
    }
}
