//! Gossip budgets, pure: how many changes one author, and one peer, may
//! have this node validate and forward per second. A token bucket each:
//! a burst, then a steady rate. Beyond it a message is neither validated
//! nor forwarded, nor held against anyone (it may be honest: a large
//! import); catch-up sync brings the changes later, at its own pace. So a
//! valid but abusive author creating thousands of entities a minute is
//! slowed and counted, while citizens editing by hand never meet the
//! bound.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

use crdt_model::ids::AuthorKey;
use libp2p::PeerId;

/// A token bucket's shape: how many at once, how many a second after.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Rate {
    /// The burst.
    pub(super) burst: f64,
    /// The steady rate, per second.
    pub(super) per_second: f64,
}

/// One author's changes by gossip: 300 at once, then 5 a second.
pub(super) const AUTHOR_RATE: Rate = Rate {
    burst: 300.0,
    per_second: 5.0,
};

/// One peer's gossip messages: 2,000 at once, then 100 a second.
pub(super) const PEER_RATE: Rate = Rate {
    burst: 2_000.0,
    per_second: 100.0,
};

/// Buckets kept per kind at most; full ones are forgotten first (a
/// forgotten bucket is a full one).
const MAX_BUCKETS: usize = 4_096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by key.
#[derive(Debug)]
struct Buckets<K> {
    rate: Rate,
    buckets: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: HashMap::new(),
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let seconds = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + seconds * self.rate.per_second).min(self.rate.burst)
    }

    /// Whether `key` may spend one token at `now`.
    fn allows(&self, key: &K, now: Instant) -> bool {
        self.buckets
            .get(key)
            .is_none_or(|bucket| self.refilled(*bucket, now) >= 1.0)
    }

    /// Spends one token of `key` at `now` (it must be allowed).
    fn spend(&mut self, key: K, now: Instant) {
        if !self.buckets.contains_key(&key) && self.buckets.len() >= MAX_BUCKETS {
            let rate = self.rate;
            self.buckets.retain(|_, bucket| {
                let seconds = now.saturating_duration_since(bucket.at).as_secs_f64();
                bucket.tokens + seconds * rate.per_second < rate.burst
            });
            if self.buckets.len() >= MAX_BUCKETS {
                // Every bucket is in use: the oldest goes.
                if let Some(oldest) = self
                    .buckets
                    .iter()
                    .min_by_key(|(_, bucket)| bucket.at)
                    .map(|(key, _)| *key)
                {
                    self.buckets.remove(&oldest);
                }
            }
        }
        let tokens = match self.buckets.get(&key) {
            Some(bucket) => self.refilled(*bucket, now),
            None => self.rate.burst,
        };
        self.buckets.insert(
            key,
            Bucket {
                tokens: tokens - 1.0,
                at: now,
            },
        );
    }
}

/// Whether a gossip message fits the budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Validate it.
    Within,
    /// Its author sent too much: slowed.
    AuthorOver,
    /// The peer that sent it sent too much: slowed.
    PeerOver,
}

/// The gossip budgets of a node; see the module doc.
#[derive(Debug)]
pub(super) struct Budgets {
    authors: Buckets<AuthorKey>,
    peers: Buckets<PeerId>,
}

impl Default for Budgets {
    fn default() -> Self {
        Self::with(AUTHOR_RATE, PEER_RATE)
    }
}

impl Budgets {
    /// Budgets of these rates.
    pub(super) fn with(author: Rate, peer: Rate) -> Self {
        Self {
            authors: Buckets::new(author),
            peers: Buckets::new(peer),
        }
    }

    /// A message of `author` came from `peer` at `now`: within the budgets
    /// (then spent from both), or which one it exceeds (nothing spent).
    pub(super) fn admit(&mut self, peer: PeerId, author: AuthorKey, now: Instant) -> Verdict {
        if !self.peers.allows(&peer, now) {
            return Verdict::PeerOver;
        }
        if !self.authors.allows(&author, now) {
            return Verdict::AuthorOver;
        }
        self.peers.spend(peer, now);
        self.authors.spend(author, now);
        Verdict::Within
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn author(n: u8) -> AuthorKey {
        AuthorKey::of(&crdt_model::ed25519_dalek::SigningKey::from_bytes(&[n; 32]))
    }

    #[test]
    fn a_citizen_editing_by_hand_is_never_slowed() {
        let start = Instant::now();
        let mut budgets = Budgets::default();
        let peer = PeerId::random();
        // An edit every two seconds for an hour.
        for second in (0..3600).step_by(2) {
            let at = start + Duration::from_secs(second);
            assert_eq!(budgets.admit(peer, author(1), at), Verdict::Within);
        }
    }

    #[test]
    fn an_author_flooding_is_slowed_to_the_rate_and_others_are_not() {
        let start = Instant::now();
        let mut budgets = Budgets::default();
        let peer = PeerId::random();
        // A thousand changes at once: the burst passes, the rest is slowed.
        let within = (0..1000)
            .filter(|_| budgets.admit(peer, author(1), start) == Verdict::Within)
            .count();
        assert_eq!(within, AUTHOR_RATE.burst as usize);
        assert_eq!(budgets.admit(peer, author(1), start), Verdict::AuthorOver);
        // Another author through the same peer is not.
        assert_eq!(budgets.admit(peer, author(2), start), Verdict::Within);
        // A minute later, the rate's worth more.
        let later = start + Duration::from_secs(60);
        let within = (0..1000)
            .filter(|_| budgets.admit(peer, author(1), later) == Verdict::Within)
            .count();
        assert_eq!(within, (60.0 * AUTHOR_RATE.per_second) as usize);
    }

    #[test]
    fn a_peer_flooding_with_many_keys_is_slowed_by_its_own_budget() {
        let start = Instant::now();
        let mut budgets = Budgets::with(
            AUTHOR_RATE,
            Rate {
                burst: 50.0,
                per_second: 1.0,
            },
        );
        let sybil = PeerId::random();
        let within = (0..200u8)
            .filter(|n| budgets.admit(sybil, author(*n), start) == Verdict::Within)
            .count();
        assert_eq!(within, 50);
        assert_eq!(budgets.admit(sybil, author(201), start), Verdict::PeerOver);
        assert_eq!(
            budgets.admit(PeerId::random(), author(202), start),
            Verdict::Within
        );
    }

    #[test]
    fn buckets_are_bounded() {
        let start = Instant::now();
        let endless = Rate {
            burst: 1e9,
            per_second: 0.0,
        };
        let mut budgets = Budgets::with(endless, PEER_RATE);
        for n in 0..(MAX_BUCKETS + 100) {
            let at = start + Duration::from_millis(n as u64);
            assert_eq!(
                budgets.admit(PeerId::random(), author(1), at),
                Verdict::Within
            );
        }
        assert!(budgets.peers.buckets.len() <= MAX_BUCKETS);
    }
}
